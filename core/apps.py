from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Shared plumbing")
    default_auto_field = "django.db.models.BigAutoField"


class AxesConfig(AxesAppConfig):
    """django-axes under a name the admin can show in both languages (its own app has no verbose_name, so the
    Chinese admin read "AXES"); its models' names are translated in locale/zh_Hans."""

    verbose_name = _("Login protection")
