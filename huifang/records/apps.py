from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecordsConfig(AppConfig):
    name = "huifang.records"
    label = "records"
    verbose_name = _("Insurance records")
