"""Demo data of the customer's e-callback: start the electronic step of the demo's electronic
new-policy tasks, so that the SMS outbox (file backend: ``var/outbox/sms.jsonl``) holds working
links. Safe to run again: a task that already has a link is left alone."""

from django.conf import settings

from huifang.callbacks.models import OPEN_STATUSES, CallbackTask, Channel, TaskKind
from huifang.selfservice.services import ECallbackRefused, ecallback_start

DEMO_ORDER = 70  # after the records (20) and the callback tasks built on them
DEMO_LINKS = 5


def _electronic_tasks():
    return CallbackTask.objects.filter(
        kind=TaskKind.NEW_POLICY, status__in=OPEN_STATUSES, channel=Channel.ELECTRONIC
    ).order_by("due_date", "id")


def demo_load(stdout, **options) -> dict:
    if not _electronic_tasks().exists() and not CallbackTask.objects.exists():
        # The records hook hands task generation to the worker; the demo needs the tasks now.
        from huifang.callbacks.generation import callback_tasks_generate_for
        from huifang.records.models import Policy

        callback_tasks_generate_for("policies", list(Policy.objects.values_list("policy_no", flat=True)))
    todo = list(_electronic_tasks().filter(ecallback_links__isnull=True)[:DEMO_LINKS])
    if not todo:
        linked = _electronic_tasks().filter(ecallback_links__isnull=False).distinct().count()
        stdout.write(f"selfservice: e-callback links already present ({linked} electronic tasks with a link)")
        return {"started": 0}
    urls = []
    for task in todo:
        try:
            _link, url = ecallback_start(task)
        except ECallbackRefused:
            continue
        urls.append(url)
    backend = getattr(settings, "HUIFANG_SMS_BACKEND", "").rsplit(".", 1)[-1]
    where = settings.HUIFANG_SMS_OUTBOX if backend == "FileBackend" else backend
    stdout.write(f"selfservice: {len(urls)} e-callback links texted; SMS outbox: {where}")
    if urls:
        stdout.write(f"  open {urls[0]} and take the code from the next message in the outbox")
    return {"started": len(urls)}
