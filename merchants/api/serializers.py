from django.core.validators import RegexValidator
from rest_framework import serializers

from allowance.api.base import StrictSerializer, text_validators
from allowance.api.fields import AmountField, IdField
from allowance.api.serializers import CampaignOutput, WalletOutput
from allowance.models import MAX_ID, MAX_PER_CONSUMER_LIMIT, MAX_STOCK


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
    per_consumer_limit = serializers.IntegerField(min_value=1, max_value=MAX_PER_CONSUMER_LIMIT, required=False,
                                                  default=1)
    stock = serializers.IntegerField(min_value=1, max_value=MAX_STOCK, required=False, allow_null=True,
                                     default=None)

    def validate(self, data):
        problems = {}
        if data["credit_amount"] < data["pay_amount"]:
            problems["credit_amount"] = ["The credit amount must be at least the pay amount."]
        if data["ends_at"] <= data["starts_at"]:
            problems["ends_at"] = ["The sale must end after it starts."]
        if data["valid_until"] < data["ends_at"]:
            problems["valid_until"] = ["The allowance must stay valid at least until the sale ends."]
        if problems:
            raise serializers.ValidationError(problems)
        return data


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
