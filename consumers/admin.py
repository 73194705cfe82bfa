from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from consumers.models import Consumer
from core.admin import CalendarSafeAdmin


@admin.register(Consumer)
class ConsumerAdmin(CalendarSafeAdmin):
    """Consumers register themselves; the account name is fixed (it is the login name and the search key)."""

    list_display = ["account_name", "user", "email", "wallet_count", "created_at"]
    list_select_related = ["user"]
    search_fields = ["account_name", "user__email"]
    readonly_fields = ["account_name", "account_key", "user", "created_at"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_wallets=Count("wallets"))

    @admin.display(description=_("email"), ordering="user__email")
    def email(self, obj):
        return obj.user.email

    @admin.display(description=_("wallets"), ordering="_wallets")
    def wallet_count(self, obj):
        return obj._wallets

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
