from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from allowance.admin import ReadOnlyAdmin
from refunds.models import Refund, RefundAllocation, RetentionMessage, WithdrawalRequest


@admin.register(WithdrawalRequest)
class WithdrawalRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "wallet", "status", "resolution", "principal", "bonus_lapsed", "requested_at", "due_at"]
    list_filter = ["status", "resolution"]
    search_fields = ["=id", "wallet__consumer__account_key"]


@admin.register(RetentionMessage)
class RetentionMessageAdmin(ReadOnlyAdmin):
    list_display = ["request", "author", "created_at"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["id", "wallet", "kind", "amount", "payout_status", "payout_attempts", "created_at"]
    list_filter = ["kind", "payout_status"]
    actions = ["payout_retry"]

    @admin.action(description=_("Retry the payout of selected refunds that need attention"))
    def payout_retry(self, request, queryset):
        from allowance.errors import DomainError
        from refunds.payouts import refund_payout_retry

        retried = 0
        for refund in queryset.order_by("pk"):
            try:
                refund_payout_retry(refund=refund, actor=request.user)
                retried += 1
            except DomainError as exc:
                self.message_user(request, f"{refund}: {exc}", messages.WARNING)
        if retried:
            self.message_user(request, _("%(count)d payout(s) sent again.") % {"count": retried}, messages.SUCCESS)


@admin.register(RefundAllocation)
class RefundAllocationAdmin(ReadOnlyAdmin):
    list_display = ["refund", "payment", "amount", "gateway_reference"]
