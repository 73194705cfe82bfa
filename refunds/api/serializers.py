from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from allowance.api.base import StrictSerializer, text_validators
from allowance.api.fields import AmountField


class RetentionMessageOutput(serializers.Serializer):
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


class RefundOutput(serializers.Serializer):
    amount = AmountField(read_only=True)
    payout_status = serializers.ChoiceField(choices=["processing", "succeeded", "needs_attention"])


class WithdrawalRequestOutput(serializers.Serializer):
    """request = {id, wallet, status, resolution, principal, bonus_lapsed, requested_at, due_at, resolved_at,
    retention_messages, refund}"""

    id = serializers.IntegerField()
    wallet = serializers.IntegerField(source="wallet_id")
    status = serializers.ChoiceField(choices=["pending", "refunded", "cancelled", "retained"])
    resolution = serializers.ChoiceField(choices=["instant", "merchant", "auto", "expiry"], allow_null=True)
    principal = AmountField(read_only=True)
    bonus_lapsed = AmountField(read_only=True)
    requested_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    retention_messages = RetentionMessageOutput(many=True)
    refund = serializers.SerializerMethodField()

    @extend_schema_field(RefundOutput(allow_null=True))
    def get_refund(self, request):
        refund = getattr(request, "refund", None) if request.pk else None
        return RefundOutput(refund).data if refund is not None else None


class MerchantWithdrawalRequestOutput(WithdrawalRequestOutput):
    account_name = serializers.CharField(source="wallet.consumer.account_name")


class WithdrawalPreviewOutput(serializers.Serializer):
    principal = AmountField(read_only=True)
    bonus_lapsed = AmountField(read_only=True)
    instant = serializers.BooleanField()
    due_at = serializers.DateTimeField(allow_null=True)


class RetentionMessageInput(StrictSerializer):
    message = serializers.CharField(max_length=500, validators=text_validators())


class MerchantRefundInput(StrictSerializer):
    """The amount the staff member saw and confirms (optional): if a return has changed it since, a 409."""

    principal = AmountField(required=False, help_text="The principal shown when the refund was confirmed, e.g. \"72.00\".")


class WithdrawalStatusQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "refunded", "cancelled", "retained"], required=False)
