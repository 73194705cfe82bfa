from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.base import StrictSerializer, text_validators
from core.api.fields import AmountField, IdField
from core.ids import MAX_ID


class CampaignListQuery(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                     help_text="Only this store's campaigns.")


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
