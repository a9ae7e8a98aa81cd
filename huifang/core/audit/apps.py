from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "huifang.core.audit"
    label = "audit"
    verbose_name = _("Audit chain")

    def ready(self):
        # Import every app's events module so the registry is complete before any write.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("events")
