"""Consumer API: stores, campaigns on sale, buying, My Allowance (wallets, entries) and orders."""
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.fields import DateTimeField
from rest_framework.response import Response

from allowance import selectors, services
from refunds.returns import order_return
from refunds.selectors import wallets_with_open_request
from core.api import examples as ex
from core.money import fen_to_yuan
from core.api.base import (
    PAGE_PARAMETERS, EmptyBodySerializer, MoneyApiView, ApiView, PublicApiView,
    consumer_of, paged_response, query_params, scoped_get,
)
from core.api.idempotency import IDEMPOTENCY_PARAMETER, answer_now, idempotent
from allowance.api.serializers import CampaignListQuery, LedgerEntryOutput, OrderInput, OrderOutput, OrderReturnInput
from api.serializers import CampaignOutput, StoreOutput, WalletOutput


def _consumer_or_403(user):
    consumer = consumer_of(user)
    if consumer is None:
        raise PermissionDenied("Only consumers can do this.")
    return consumer


class StoreListApi(PublicApiView):
    @extend_schema(operation_id="stores_list", responses=StoreOutput(many=True), tags=["consumer"],
                   examples=[ex.response("Stores", [{"id": 1, "name": "Demo Store"}])])
    def get(self, request):
        return Response(StoreOutput(selectors.store_list(), many=True).data)


class CampaignListApi(PublicApiView):
    @extend_schema(
        operation_id="campaigns_list", tags=["consumer"], responses=CampaignOutput(many=True),
        parameters=[CampaignListQuery],
        examples=[ex.response("Active campaigns", [ex.CAMPAIGN])],
    )
    def get(self, request):
        query = query_params(CampaignListQuery, request)
        campaigns = selectors.campaigns_on_sale()
        if "store" in query:
            campaigns = campaigns.filter(store_id=query["store"])
        return Response(CampaignOutput(campaigns, many=True).data)


def _purchase_checks(view, request, pk):
    """Every refusal a purchase needs no lock for, from one read, before any transaction: the body, who asks, the
    campaign, its sale and its stock. Most buyers of a flash sale end here (docs/perf.md, the flash sale)."""
    EmptyBodySerializer(data=request.data).is_valid(raise_exception=True)
    campaign, consumer = selectors.campaign_for_purchase(pk=pk, user=request.user)
    if consumer is None:
        raise PermissionDenied("Only consumers can do this.")
    if campaign is None:
        raise Http404
    services.campaign_purchase_check(campaign=campaign)
    return campaign, consumer


_DATETIME = DateTimeField()


def _purchased_wallet(request, wallet, campaign, opened: bool) -> dict:
    """The `wallet` answer (WalletOutput) of a purchase. A topped-up wallet is read with its pending request as
    every wallet answer is; a wallet the purchase opened is shaped from the rows it wrote, with no withdrawal
    request, by hand: building WalletOutput cost as much as a sold-out buyer's whole request (docs/perf.md;
    tests/allowance/test_purchase_api_races.py checks it answers what WalletOutput does)."""
    if not opened:
        return WalletOutput(wallets_with_open_request(user=request.user).get(pk=wallet.pk)).data
    return {
        "id": wallet.pk,
        "store": {"id": campaign.store.pk, "name": campaign.store.name},
        "campaign": {"id": campaign.pk, "name": campaign.name},
        "principal": fen_to_yuan(wallet.principal),
        "bonus": fen_to_yuan(wallet.bonus),
        "total": fen_to_yuan(wallet.total),
        "paid": fen_to_yuan(wallet.paid),
        "credited": fen_to_yuan(wallet.credited),
        "status": wallet.status,
        "valid_until": _DATETIME.to_representation(wallet.valid_until),
        "consumed": wallet.consumed,
        "open_withdrawal": None,
    }


class CampaignPurchaseApi(MoneyApiView):
    @extend_schema(
        operation_id="campaigns_purchase", tags=["consumer"], request=EmptyBodySerializer,
        parameters=[IDEMPOTENCY_PARAMETER], responses={201: WalletOutput},
        examples=[ex.response("Wallet after buying", ex.WALLET_NEW, 201)],
        description="Buy a campaign; the sandbox payment completes at once and the wallet is topped up.",
    )
    @idempotent(checks=_purchase_checks)
    def post(self, request, pk, checked):
        campaign, consumer = checked
        answer = None

        def answer_before_stock_take(wallet, opened):
            # The answer is shaped from the rows the purchase holds and stored with the key before the stock take:
            # the campaign row is then held only for the UPDATE and the COMMIT (docs/perf.md, the flash sale).
            nonlocal answer
            answer = Response(_purchased_wallet(request, wallet, campaign, opened), status=status.HTTP_201_CREATED)
            answer_now(request, answer)

        services.campaign_purchase(campaign=campaign, consumer=consumer, before_stock_take=answer_before_stock_take)
        return answer


class WalletListApi(ApiView):
    @extend_schema(operation_id="wallets_list", tags=["consumer"], parameters=PAGE_PARAMETERS,
                   responses=WalletOutput(many=True),
                   examples=[ex.response("My Allowance", [ex.WALLET])])
    def get(self, request):
        return paged_response(request, wallets_with_open_request(user=request.user), WalletOutput)


class WalletDetailApi(ApiView):
    @extend_schema(operation_id="wallets_retrieve", tags=["consumer"], responses=WalletOutput,
                   examples=[ex.response("Wallet", ex.WALLET)])
    def get(self, request, pk):
        return Response(WalletOutput(scoped_get(wallets_with_open_request(user=request.user), pk)).data)


class WalletEntryListApi(ApiView):
    @extend_schema(operation_id="wallets_entries", tags=["consumer"], parameters=PAGE_PARAMETERS,
                   responses=LedgerEntryOutput(many=True), examples=[ex.response("Entries", [ex.ENTRY])])
    def get(self, request, pk):
        wallet = scoped_get(selectors.wallets_of_user(user=request.user), pk)
        entries = selectors.ledger_entries_of_wallet(wallet=wallet)
        return paged_response(request, entries, LedgerEntryOutput)


class OrderCreateApi(MoneyApiView):
    @extend_schema(
        operation_id="orders_create", tags=["consumer"], request=OrderInput, parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: OrderOutput},
        examples=[ex.request("Pay 10.00", {"store": 1, "order_ref": "A-1001", "amount": "10.00"}),
                  ex.response("Order", ex.ORDER, 201)],
        description="Pay an order with allowance: the consumer's wallets in the store, soonest validity first.",
    )
    @idempotent
    def post(self, request):
        data = _valid(OrderInput, request)
        consumer = _consumer_or_403(request.user)
        store = scoped_get(selectors.store_list(), data["store"])
        order = services.order_spend(consumer=consumer, store=store, order_ref=data["order_ref"], amount=data["amount"])
        return Response(OrderOutput(order).data, status=status.HTTP_201_CREATED)


class OrderReturnApi(MoneyApiView):
    @extend_schema(
        operation_id="orders_return", tags=["consumer"], request=OrderReturnInput, parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: OrderOutput},
        examples=[ex.request("Return part", {"amount": "4.00"}),
                  ex.response("Order", {**ex.ORDER, "returned_amount": "4.00"})],
        description="Return an order (all that is not yet returned by default) to the wallets it was paid from.",
    )
    @idempotent
    def post(self, request, pk):
        data = _valid(OrderReturnInput, request)
        order = scoped_get(selectors.orders_of_user(user=request.user), pk)
        order = order_return(order=order, consumer=order.consumer, amount=data.get("amount"))
        return Response(OrderOutput(order).data)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
