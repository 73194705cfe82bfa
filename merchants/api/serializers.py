from django.core.validators import RegexValidator
from rest_framework import serializers

from core.api.base import StrictSerializer, text_validators
from core.api.fields import AmountField, IdField
from api.serializers import CampaignOutput, WalletOutput
from core.ids import MAX_ID


class MerchantCampaignOutput(CampaignOutput):
    stock = serializers.IntegerField(allow_null=True)
    sold_count = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["active", "history"])
    ended_at = serializers.DateTimeField(allow_null=True)


class CampaignStateQuery(serializers.Serializer):
    state = serializers.ChoiceField(choices=["active", "history"], required=False)


class CampaignInput(StrictSerializer):
    store = IdField()
    name = serializers.CharField(max_length=120, validators=text_validators())
    pay_amount = AmountField()
    credit_amount = AmountField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    per_consumer_limit = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, default=1)
    stock = serializers.IntegerField(min_value=1, max_value=2_000_000_000, required=False, allow_null=True, default=None)

    # The rules between fields (credit ≥ pay, ends after starts, valid until the sale ends) are the service's
    # (allowance.services.campaign_create), translated, answered as {field: [message]}.


class UserSearchQuery(serializers.Serializer):
    account_name = serializers.CharField(
        max_length=64, trim_whitespace=False, validators=[RegexValidator(r"^[^\x00]*$")], help_text="Exact account name, any letter case (or its start, with prefix)."
    )
    prefix = serializers.BooleanField(required=False, default=False, help_text="Also match names that start with it.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=50,
                                     help_text="At most this many consumers (default 50).")


class MerchantUserOutput(serializers.Serializer):
    account_name = serializers.CharField()
    wallets = WalletOutput(many=True)


class SummaryQuery(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                     help_text="One of your stores (default: all of them).")


class SummaryOutput(serializers.Serializer):
    outstanding_principal = AmountField(read_only=True)
    outstanding_bonus = AmountField(read_only=True)
    pending_count = serializers.IntegerField()
    pending_principal = AmountField(read_only=True)
    due_within_48h = serializers.IntegerField()
