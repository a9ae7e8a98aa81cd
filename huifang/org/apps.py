from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "huifang.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self):
        # Log-ins and failed log-ins go into the audit chain.
        from huifang.org import signals  # noqa: F401
