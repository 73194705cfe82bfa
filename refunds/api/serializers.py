from rest_framework import serializers

from api.serializers import WithdrawalRequestOutput
from core.api.base import StrictSerializer, text_validators
from core.api.fields import AmountField
from refunds.models import WithdrawalRequest


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


class WithdrawalInput(StrictSerializer):
    """The amount the consumer saw in the preview and confirms (optional): if it has changed since, a 409."""

    principal = AmountField(required=False, help_text="The principal shown in the preview, e.g. \"47.60\".")


class WithdrawalStatusQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=WithdrawalRequest.Status.choices, required=False)
