from django.apps import AppConfig


class AllowanceConfig(AppConfig):
    name = "allowance"
    default_auto_field = "django.db.models.BigAutoField"
