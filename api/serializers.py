"""The API's shared shapes (SPEC §8): `wallet` and `request` appear in the answers of several apps' endpoints
(consumer wallets, merchant user search, withdrawals), so they live here, above the apps, and each app's
`api/` serves its own endpoints with them. This package is web layer: it may read any app's models, and no
app's domain layer imports it (tests/test_architecture.py)."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from allowance.models import Wallet
from core.api.fields import AmountField
from refunds.models import Refund, WithdrawalRequest


class RetentionMessageOutput(serializers.Serializer):
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


class RefundOutput(serializers.Serializer):
    amount = AmountField(read_only=True)
    payout_status = serializers.ChoiceField(choices=Refund.PayoutStatus.choices)


class WithdrawalRequestOutput(serializers.Serializer):
    """request = {id, wallet, status, resolution, principal, bonus_lapsed, requested_at, due_at, resolved_at,
    retention_messages, refund}"""

    id = serializers.IntegerField()
    wallet = serializers.IntegerField(source="wallet_id")
    status = serializers.ChoiceField(choices=WithdrawalRequest.Status.choices)
    resolution = serializers.ChoiceField(choices=WithdrawalRequest.Resolution.choices, allow_null=True)
    principal = AmountField(read_only=True)
    bonus_lapsed = AmountField(read_only=True)
    requested_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    retention_messages = serializers.SerializerMethodField()
    refund = serializers.SerializerMethodField()

    # A request the view has just held (context `just_held`) has no message and no refund yet: nothing to read.
    @extend_schema_field(RetentionMessageOutput(many=True))
    def get_retention_messages(self, request):
        if self.context.get("just_held"):
            return []
        return RetentionMessageOutput(request.retention_messages.all(), many=True).data

    @extend_schema_field(RefundOutput(allow_null=True))
    def get_refund(self, request):
        if self.context.get("just_held"):
            return None
        refund = getattr(request, "refund", None) if request.pk else None
        return RefundOutput(refund).data if refund is not None else None


class StoreOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CampaignRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CampaignOutput(serializers.Serializer):
    id = serializers.IntegerField()
    store = serializers.IntegerField(source="store_id")
    name = serializers.CharField()
    pay_amount = AmountField(read_only=True)
    credit_amount = AmountField(read_only=True)
    bonus_amount = AmountField(read_only=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    per_consumer_limit = serializers.IntegerField()
    remaining_stock = serializers.IntegerField(allow_null=True)


class WalletOutput(serializers.Serializer):
    """wallet = {id, store: {id, name}, campaign: {id, name}, principal, bonus, total, paid, credited, status,
    valid_until, consumed, open_withdrawal: request|null}"""

    id = serializers.IntegerField()
    store = StoreOutput()
    campaign = CampaignRefOutput()
    principal = AmountField(read_only=True)
    bonus = AmountField(read_only=True)
    total = AmountField(read_only=True)
    paid = AmountField(read_only=True)
    credited = AmountField(read_only=True)
    status = serializers.ChoiceField(choices=Wallet.Status.choices)
    valid_until = serializers.DateTimeField()
    consumed = serializers.BooleanField()
    open_withdrawal = serializers.SerializerMethodField()

    @extend_schema_field(WithdrawalRequestOutput(allow_null=True))
    def get_open_withdrawal(self, wallet):
        # the selectors prefetch only the pending request; without them this reads the wallet's requests
        pending = [r for r in wallet.withdrawal_requests.all() if r.status == WithdrawalRequest.Status.PENDING]
        return WithdrawalRequestOutput(pending[0]).data if pending else None
