"""The Django admin for campaigns, wallets, payments, orders, the ledger and the audit trail.

Money rows are read-only here: balances change only through the services, which admin actions call.
"""
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from allowance.models import AuditRecord, Campaign, LedgerEntry, Order, OrderAllocation, Payment, Wallet
from allowance.services import campaign_admin_end
from core.admin import AttentionFilter, ReadOnlyAdmin, ReadOnlyInline, admin_action_each, yuan_column


admin.site.site_header = _("Store Allowance admin")
admin.site.site_title = _("Store Allowance admin")
admin.site.index_title = _("Store allowance, withdrawals and refunds")
# The model list beside every page took a quarter of a 1280 px screen from the lists (the refund list's
# "last error" fell out of sight); the breadcrumbs and the index page lead to every model.
admin.site.enable_nav_sidebar = False


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    """Campaigns are created by store staff on /merchant/ (audited); the admin can end a sale."""

    pay_yuan = yuan_column("pay_amount", _("pay"))
    credit_yuan = yuan_column("credit_amount", _("get"))
    list_display = ["name", "store", "pay_yuan", "credit_yuan", "starts_at", "ends_at", "valid_until",
                    "sold_count", "stock", "ended_at"]
    list_filter = ["store", ("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "store__name", "=id"]
    date_hierarchy = "starts_at"
    actions = ["end_sale"]

    @admin.action(description=_("End the sale of the selected campaigns (bought allowance stays valid)"))
    def end_sale(self, request, queryset):
        ended = admin_action_each(
            self, request, queryset.filter(ended_at__isnull=True).order_by("pk"),
            lambda campaign: campaign_admin_end(campaign=campaign, actor=request.user), refused_level=messages.ERROR,
        )
        self.message_user(request, ngettext("%(count)d campaign ended.", "%(count)d campaigns ended.", ended)
                          % {"count": ended}, messages.SUCCESS if ended else messages.WARNING)


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    principal_yuan = yuan_column("principal_delta", _("principal"))
    bonus_yuan = yuan_column("bonus_delta", _("bonus"))
    fields = ["created_at", "kind", "principal_delta", "bonus_delta", "order", "request_id", "refund_id", "actor"]
    readonly_fields = fields
    ordering = ["-created_at", "-pk"]


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    principal_yuan = yuan_column("principal", _("principal"))
    bonus_yuan = yuan_column("bonus", _("bonus"))
    paid_yuan = yuan_column("paid", _("paid"))
    credited_yuan = yuan_column("credited", _("credited"))
    list_display = ["id", "consumer", "store", "campaign", "principal_yuan", "bonus_yuan", "paid_yuan", "status",
                    "valid_until", "attention_reason"]
    list_filter = ["status", AttentionFilter, "store"]
    list_select_related = ["consumer", "store", "campaign"]
    search_fields = ["consumer__account_name", "=id"]
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    amount_yuan = yuan_column("amount", _("amount"))
    refunded_yuan = yuan_column("refunded_amount", _("refunded"))
    credit_yuan = yuan_column("credit_amount", _("credited"))
    list_display = ["id", "consumer", "campaign", "amount_yuan", "refunded_yuan", "status", "gateway", "created_at"]
    list_filter = ["status", "campaign__store"]
    list_select_related = ["consumer", "campaign"]
    search_fields = ["consumer__account_name", "gateway_reference", "=id"]
    date_hierarchy = "created_at"


class OrderAllocationInline(ReadOnlyInline):
    model = OrderAllocation
    principal_yuan = yuan_column("principal", _("principal"))
    bonus_yuan = yuan_column("bonus", _("bonus"))
    returned_principal_yuan = yuan_column("returned_principal", _("principal returned"))
    returned_bonus_yuan = yuan_column("returned_bonus", _("bonus returned"))
    fields = ["wallet", "principal", "bonus", "returned_principal", "returned_bonus"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    amount_yuan = yuan_column("amount", _("amount"))
    returned_yuan = yuan_column("returned_amount", _("returned"))
    list_display = ["order_ref", "store", "consumer", "amount_yuan", "returned_yuan", "created_at"]
    list_filter = ["store"]
    list_select_related = ["store", "consumer"]
    search_fields = ["order_ref", "consumer__account_name"]
    date_hierarchy = "created_at"
    inlines = [OrderAllocationInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    principal_yuan = yuan_column("principal_delta", _("principal"))
    bonus_yuan = yuan_column("bonus_delta", _("bonus"))
    list_display = ["id", "created_at", "wallet", "kind", "principal_yuan", "bonus_yuan", "order", "request_id", "actor"]
    list_filter = ["kind", "wallet__store"]
    list_select_related = ["wallet__consumer", "wallet__campaign", "order", "actor"]
    search_fields = ["wallet__consumer__account_name", "order__order_ref", "=request_id", "=wallet__id"]
    date_hierarchy = "created_at"


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    amount_yuan = yuan_column("amount", _("amount"))
    list_display = ["created_at", "actor", "action", "store", "target_type", "target_id", "amount_yuan"]
    list_filter = ["action", "store", "target_type"]
    list_select_related = ["actor", "store"]
    search_fields = ["action", "=target_id", "actor__username"]
    date_hierarchy = "created_at"
