from django.contrib import admin

from allowance.models import AuditRecord, Campaign, LedgerEntry, Order, OrderAllocation, Payment, Wallet


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows change only through services: the admin shows them and never edits them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "store", "pay_amount", "credit_amount", "starts_at", "ends_at", "valid_until", "sold_count"]
    list_filter = ["store"]
    search_fields = ["name"]
    readonly_fields = ["sold_count", "ended_at"]


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["id", "consumer", "store", "campaign", "principal", "bonus", "status", "valid_until"]
    list_filter = ["status", "store"]
    search_fields = ["consumer__account_key"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "consumer", "amount", "refunded_amount", "status", "created_at"]
    search_fields = ["consumer__account_key", "gateway_reference"]


class OrderAllocationInline(admin.TabularInline):
    model = OrderAllocation
    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["order_ref", "store", "consumer", "amount", "returned_amount", "created_at"]
    list_filter = ["store"]
    search_fields = ["order_ref", "consumer__account_key"]
    inlines = [OrderAllocationInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "wallet", "kind", "principal_delta", "bonus_delta", "created_at"]
    list_filter = ["kind"]
    search_fields = ["wallet__consumer__account_key"]


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_id", "amount"]
    list_filter = ["action"]
