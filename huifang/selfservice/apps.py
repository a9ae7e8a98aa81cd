from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SelfServiceConfig(AppConfig):
    name = "huifang.selfservice"
    label = "selfservice"
    verbose_name = _("Electronic callback (电子化回访)")
