from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    name = "huifang.rules"
    label = "rules"
    verbose_name = _("Rule packs")

    def ready(self):
        from django.db.models.signals import post_migrate

        post_migrate.connect(load_shipped_packs_after_migrate, sender=self)


def load_shipped_packs_after_migrate(sender, using="default", plan=None, **kwargs):
    """``huifang migrate`` ends with the shipped rule packs loaded.

    An empty rule table (a new database, or one a test just flushed) is seeded without audit
    events: loading the shipped packs is part of creating the database. Otherwise the packs are
    reloaded like ``huifang rules load``: a no-op when the files did not change, new audited rule
    versions when a new release changed them.
    """
    from django.db import connections

    from huifang.core.audit.models import AuditEvent
    from huifang.rules.models import Rule
    from huifang.rules.services import rule_packs_load_shipped

    if using != "default":
        return
    tables = set(connections[using].introspection.table_names())
    if Rule._meta.db_table not in tables or AuditEvent._meta.db_table not in tables:
        return  # a partial migrate (e.g. to an earlier state): nothing to load into
    seeding = not Rule.objects.exists()
    rule_packs_load_shipped(audit=not seeding, reason="shipped with Huifang (migrate)")
