from django.core.validators import RegexValidator
from rest_framework import serializers

from core.api.base import StrictSerializer, text_validators
from core.api.fields import AmountField, IdField
from api.serializers import CampaignOutput, WalletOutput
from core.ids import MAX_ID
from allowance.models import MAX_PER_CONSUMER_LIMIT, MAX_STOCK


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


class InsightsQuery(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                     help_text="One of your stores (default: all of them).")
    campaign = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                        help_text="One campaign of your stores (default: all of them).")

    def get_fields(self):
        # `from` is a Python keyword: the two dates are added by name.
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False, help_text="First day, YYYY-MM-DD (default: 29 days before `to`).")
        fields["to"] = serializers.DateField(required=False, help_text="Last day, YYYY-MM-DD, included (default: today).")
        return fields

    def validate(self, data):
        from refunds.insights import insights_range_resolve

        start, end, problems = insights_range_resolve(start=data.get("from"), end=data.get("to"))
        if problems:
            raise serializers.ValidationError({name: [message] for name, message in problems.items()})
        data["from"], data["to"] = start, end
        return data


class CountAmountsOutput(serializers.Serializer):
    count = serializers.IntegerField()
    principal = AmountField(read_only=True)
    bonus = AmountField(read_only=True)


class BalanceOutput(serializers.Serializer):
    principal = AmountField(read_only=True)
    bonus = AmountField(read_only=True)


class ExpiringOutput(serializers.Serializer):
    principal = AmountField(read_only=True)
    bonus = AmountField(read_only=True)


class WithdrawalsByResolutionOutput(serializers.Serializer):
    instant = serializers.IntegerField()
    merchant = serializers.IntegerField()
    auto = serializers.IntegerField()
    expiry = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    retained = serializers.IntegerField()


class FiguresOutput(serializers.Serializer):
    sold = CountAmountsOutput()
    spent = AmountField(read_only=True, help_text="Spent through allowance (GMV), returns deducted.")
    outstanding = BalanceOutput(help_text="Open wallets now: the store's liability.")
    withdrawals = WithdrawalsByResolutionOutput(help_text="Requests that ended in the range, by outcome.")
    withdrawn_principal = AmountField(read_only=True)
    expired_principal = AmountField(read_only=True)
    retention_rate = serializers.FloatField(allow_null=True, help_text=(
        "Requests with a retention message that ended `retained`, over requests with a retention message that ended."))
    median_refund_seconds = serializers.FloatField(allow_null=True, help_text=(
        "Median time from request to refund (instant, merchant, auto)."))
    expiring_7d = ExpiringOutput()
    expiring_30d = ExpiringOutput()

    def to_representation(self, figures):
        return super().to_representation({
            "sold": {"count": figures.sold_count, "principal": figures.sold_principal, "bonus": figures.sold_bonus},
            "spent": figures.spent,
            "outstanding": {"principal": figures.outstanding_principal, "bonus": figures.outstanding_bonus},
            "withdrawals": figures.withdrawals,
            "withdrawn_principal": figures.withdrawn_principal,
            "expired_principal": figures.expired_principal,
            "retention_rate": None if figures.retention_rate is None else round(figures.retention_rate, 4),
            "median_refund_seconds": figures.median_refund_seconds,
            "expiring_7d": {"principal": figures.expiring_7d_principal, "bonus": figures.expiring_7d_bonus},
            "expiring_30d": {"principal": figures.expiring_30d_principal, "bonus": figures.expiring_30d_bonus},
        })


class CampaignFiguresOutput(serializers.Serializer):
    id = serializers.IntegerField(source="campaign.pk")
    name = serializers.CharField(source="campaign.name")
    store = serializers.IntegerField(source="campaign.store_id")
    figures = FiguresOutput()


class DayOutput(serializers.Serializer):
    date = serializers.DateField(source="day")
    sold = AmountField(read_only=True)
    spent = AmountField(read_only=True)
    withdrawn = AmountField(read_only=True)
    expired = AmountField(read_only=True)


class InsightsOutput(serializers.Serializer):
    def get_fields(self):
        return {
            "from": serializers.DateField(source="start"),
            "to": serializers.DateField(source="end"),
            "total": FiguresOutput(),
            "campaigns": CampaignFiguresOutput(many=True),
            "days": DayOutput(many=True),
        }
