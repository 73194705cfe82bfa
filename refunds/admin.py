"""The Django admin for withdrawal requests, retention messages, refunds and their payouts (read-only rows;
money moves only through the actions, which call the services and are audited)."""
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import AttentionFilter, ReadOnlyAdmin, ReadOnlyInline, admin_action_each, yuan_column
from core.money import yuan_to_fen
from refunds.models import Refund, RefundAllocation, RetentionMessage, WithdrawalRequest
from refunds.payouts import refund_payout_retry
from refunds.services import withdrawal_admin_refund


class RetentionMessageInline(ReadOnlyInline):
    model = RetentionMessage
    fields = ["created_at", "author", "message"]
    readonly_fields = fields
    show_change_link = False


@admin.register(WithdrawalRequest)
class WithdrawalRequestAdmin(ReadOnlyAdmin):
    principal_yuan = yuan_column("principal", _("principal"))
    bonus_yuan = yuan_column("bonus_lapsed", _("bonus lapsed"))
    list_display = ["id", "account_name", "store", "status", "resolution", "principal_yuan", "bonus_yuan",
                    "requested_at", "due_at", "attention_reason"]
    list_filter = ["status", "resolution", AttentionFilter, "wallet__store"]
    list_select_related = ["wallet__consumer", "wallet__store"]
    search_fields = ["=id", "wallet__consumer__account_name"]
    date_hierarchy = "requested_at"
    inlines = [RetentionMessageInline]
    actions = ["refund_now"]

    @admin.display(description=_("account name"), ordering="wallet__consumer__account_key")
    def account_name(self, obj):
        return obj.wallet.consumer.account_name

    @admin.display(description=_("store"), ordering="wallet__store__name")
    def store(self, obj):
        return obj.wallet.store.name

    @admin.action(description=_("Refund the selected pending requests now (principal back, bonus lapses)"))
    def refund_now(self, request, queryset):
        """Like Django's delete_selected: Go shows the requests and amounts; only the confirmation (`post=yes`)
        refunds, each at the principal the page showed (a return since then is refused with the new amount)."""
        selected = list(queryset.select_related("wallet__consumer", "wallet__store").order_by("pk"))
        if request.POST.get("post") != "yes":
            return self._refund_now_confirmation(request, selected)
        refunded = admin_action_each(
            self, request, selected,
            lambda withdrawal: withdrawal_admin_refund(
                request=withdrawal, actor=request.user,
                seen_principal=_seen_principal(request.POST.get(f"principal-{withdrawal.pk}"))),
        )
        if refunded:
            self.message_user(request, ngettext("%(count)d request refunded.", "%(count)d requests refunded.", refunded)
                              % {"count": refunded}, messages.SUCCESS)

    def _refund_now_confirmation(self, request, selected):
        pending = [w for w in selected if w.status == WithdrawalRequest.Status.PENDING]
        if not pending:
            self.message_user(request, _("None of the selected requests is pending: nothing to refund."),
                              messages.WARNING)
            return None
        return TemplateResponse(request, "admin/refunds/withdrawalrequest/refund_now_confirmation.html", {
            **self.admin_site.each_context(request),
            "title": _("Refund now: are you sure?"),
            "opts": self.model._meta,
            "pending": pending,
            "not_pending": [w for w in selected if w.status != WithdrawalRequest.Status.PENDING],
            "total_principal": sum(w.principal for w in pending),
            "total_bonus": sum(w.bonus_lapsed for w in pending),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        })


def _seen_principal(value) -> int | None:
    """The principal the confirmation page showed for a request (absent or unreadable: not checked)."""
    try:
        return yuan_to_fen(value) if value else None
    except (ValueError, ArithmeticError):
        return None


@admin.register(RetentionMessage)
class RetentionMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "request", "account_name", "author", "message"]
    list_select_related = ["request__wallet__consumer", "author"]
    list_filter = ["request__wallet__store"]
    search_fields = ["=request__id", "request__wallet__consumer__account_name", "message"]
    date_hierarchy = "created_at"

    @admin.display(description=_("account name"))
    def account_name(self, obj):
        return obj.request.wallet.consumer.account_name


class RefundAllocationInline(ReadOnlyInline):
    model = RefundAllocation
    amount_yuan = yuan_column("amount", _("amount"))
    fields = ["payment", "amount", "gateway_reference"]
    readonly_fields = fields


class KindFilter(admin.ChoicesFieldListFilter):
    """The model field has no translated name: "By kind" stood in English on Chinese pages."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("kind")


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    amount_yuan = yuan_column("amount", _("amount"))
    # Eight columns, the error wrapping in the widest: at 1280 px, next to the admin's sidebar and the filters,
    # eleven columns pushed "last error" out of sight. The request, order and payout time are on the refund's page.
    list_display = ["id", "account_name", "kind_display", "amount_yuan", "payout_status", "attempts", "error",
                    "created"]
    list_filter = ["payout_status", ("kind", KindFilter), "wallet__store"]
    list_select_related = ["wallet__consumer", "request", "order"]
    search_fields = ["=id", "=request__id", "order__order_ref", "wallet__consumer__account_name"]
    date_hierarchy = "created_at"
    inlines = [RefundAllocationInline]
    actions = ["payout_retry"]

    @admin.display(description=_("account name"), ordering="wallet__consumer__account_key")
    def account_name(self, obj):
        return obj.wallet.consumer.account_name

    @admin.display(description=_("kind"), ordering="kind")
    def kind_display(self, obj):
        return obj.get_kind_display()

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj):
        return obj.created_at

    @admin.display(description=_("attempts"), ordering="payout_attempts")
    def attempts(self, obj):
        return obj.payout_attempts

    @admin.display(description=_("last error"))
    def error(self, obj):
        return obj.last_error

    class Media:
        css = {"all": ["css/admin-refunds.css"]}

    @admin.action(description=_("Retry the payout of selected refunds that need attention"))
    def payout_retry(self, request, queryset):
        retried = admin_action_each(
            self, request, queryset.order_by("pk"),
            lambda refund: refund_payout_retry(refund=refund, actor=request.user),
        )
        if retried:
            self.message_user(request, _("%(count)d payout(s) sent again.") % {"count": retried}, messages.SUCCESS)


@admin.register(RefundAllocation)
class RefundAllocationAdmin(ReadOnlyAdmin):
    amount_yuan = yuan_column("amount", _("amount"))
    list_display = ["id", "refund", "payment", "amount_yuan", "gateway_reference"]
    list_select_related = ["refund", "payment"]
    search_fields = ["=refund__id", "gateway_reference"]
