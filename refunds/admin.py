from django.contrib import admin

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


@admin.register(RefundAllocation)
class RefundAllocationAdmin(ReadOnlyAdmin):
    list_display = ["refund", "payment", "amount", "gateway_reference"]
