from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallbacksConfig(AppConfig):
    name = "huifang.callbacks"
    label = "callbacks"
    verbose_name = _("Callbacks")

    def ready(self):
        from huifang.records.hooks import register_records_hook
        from huifang.rules.services import register_rules_changed_hook

        register_records_hook(records_changed_generate)
        register_rules_changed_hook(rules_changed_recompute)


# Feed kinds whose records can create or close callback tasks.
GENERATING_KINDS = ("policies", "claims", "events", "salespeople")


def records_changed_generate(kind: str, keys: list[str]) -> None:
    """Records hook (runs after the feed batch committed): enqueue ``callbacks.generate_for``."""
    if kind not in GENERATING_KINDS or not keys:
        return
    from huifang.callbacks.tasks import generate_for

    generate_for.enqueue(kind, list(keys))


def rules_changed_recompute(rule_ids: list[str]) -> None:
    """Rules hook (after the change committed): recompute open tasks' due dates in the background.

    Nothing is enqueued when no open task follows those rules (e.g. the packs loaded by a fresh
    ``migrate``), so a new installation starts with an empty job queue."""
    from huifang.callbacks.models import OPEN_STATUSES, CallbackTask
    from huifang.callbacks.tasks import recompute_due

    if not CallbackTask.objects.filter(rule_id__in=list(rule_ids), status__in=OPEN_STATUSES).exists():
        return
    recompute_due.enqueue(list(rule_ids))
