from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AllowanceConfig(AppConfig):
    name = "allowance"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Store allowance")
