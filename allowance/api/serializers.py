from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.base import StrictSerializer, text_validators
from core.api.fields import AmountField, IdField
from core.ids import MAX_ID
from refunds.api.serializers import WithdrawalRequestOutput


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


class CampaignListQuery(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                     help_text="Only this store's campaigns.")


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
    status = serializers.ChoiceField(choices=["active", "frozen", "closed"])
    valid_until = serializers.DateTimeField()
    consumed = serializers.BooleanField()
    open_withdrawal = serializers.SerializerMethodField()

    @extend_schema_field(WithdrawalRequestOutput(allow_null=True))
    def get_open_withdrawal(self, wallet):
        pending = [r for r in _requests_of(wallet) if r.status == "pending"]
        return WithdrawalRequestOutput(pending[0]).data if pending else None


def _requests_of(wallet):
    cache = getattr(wallet, "_prefetched_objects_cache", {})
    if "withdrawal_requests" in cache:
        return list(cache["withdrawal_requests"])
    return list(
        wallet.withdrawal_requests.filter(status="pending").select_related("refund").prefetch_related("retention_messages")
    )


class LedgerEntryOutput(serializers.Serializer):
    kind = serializers.CharField()
    principal_delta = AmountField(read_only=True)
    bonus_delta = AmountField(read_only=True)
    created_at = serializers.DateTimeField()
    reference = serializers.CharField()


class OrderAllocationOutput(serializers.Serializer):
    wallet = serializers.IntegerField(source="wallet_id")
    principal = AmountField(read_only=True)
    bonus = AmountField(read_only=True)


class OrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    store = serializers.IntegerField(source="store_id")
    order_ref = serializers.CharField()
    amount = AmountField(read_only=True)
    returned_amount = AmountField(read_only=True)
    allocations = serializers.SerializerMethodField()

    @extend_schema_field(OrderAllocationOutput(many=True))
    def get_allocations(self, order):
        return OrderAllocationOutput(order.allocations.order_by("pk"), many=True).data


class OrderInput(StrictSerializer):
    store = IdField()
    order_ref = serializers.CharField(max_length=64, validators=text_validators())
    amount = AmountField()


class OrderReturnInput(StrictSerializer):
    amount = AmountField(required=False)
