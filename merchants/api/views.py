"""Merchant staff API: their stores' campaigns, user management search and the summary. Only their stores."""
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from allowance import selectors, services
from allowance.selectors import consumers_search
from api.permissions import MerchantApiView
from core.api import examples as ex
from core.api.base import PAGE_PARAMETERS, ApiView, EmptyBodySerializer, paged_response, query_params, scoped_get
from merchants.api.serializers import (
    CampaignInput, CampaignStateQuery, InsightsOutput, InsightsQuery, MerchantCampaignOutput, MerchantUserOutput,
    SummaryOutput, SummaryQuery, UserSearchQuery,
)
from merchants.selectors import stores_for_staff
from refunds.selectors import merchant_summary, staff_wallets_with_open_request


class MerchantCampaignListApi(MerchantApiView):
    @extend_schema(
        operation_id="merchant_campaigns_list", tags=["merchant"], responses=MerchantCampaignOutput(many=True),
        parameters=[CampaignStateQuery, *PAGE_PARAMETERS],
        examples=[ex.response("Campaigns", [ex.MERCHANT_CAMPAIGN])],
    )
    def get(self, request):
        query = query_params(CampaignStateQuery, request)
        campaigns = selectors.campaigns_for_staff(user=request.user, state=query.get("state"))
        return paged_response(request, campaigns, MerchantCampaignOutput)

    @extend_schema(
        operation_id="merchant_campaigns_create", tags=["merchant"], request=CampaignInput,
        responses={201: MerchantCampaignOutput},
        examples=[
            ex.request("Pay 80 get 100", {
                "store": 1, "name": "pay 80 get 100", "pay_amount": "80", "credit_amount": "100",
                "starts_at": "2026-01-01T00:00:00+08:00", "ends_at": "2026-12-31T00:00:00+08:00",
                "valid_until": "2027-12-31T00:00:00+08:00", "per_consumer_limit": 1, "stock": 1000}),
            ex.response("Created", {**ex.MERCHANT_CAMPAIGN, "sold_count": 0, "remaining_stock": 1000}, 201),
        ],
    )
    def post(self, request):
        serializer = CampaignInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        store = scoped_get(stores_for_staff(user=request.user), data.pop("store"))
        campaign = services.campaign_create(store=store, actor=request.user, **data)
        return Response(MerchantCampaignOutput(campaign).data, status=status.HTTP_201_CREATED)


class MerchantCampaignEndApi(ApiView):
    @extend_schema(
        operation_id="merchant_campaigns_end", tags=["merchant"], request=EmptyBodySerializer,
        responses={200: MerchantCampaignOutput},
        examples=[ex.response("Ended", {**ex.MERCHANT_CAMPAIGN, "state": "history",
                                        "ended_at": "2026-03-01T12:00:00+08:00"})],
        description="Stop the sale now; wallets already bought stay valid.",
    )
    def post(self, request, pk):
        EmptyBodySerializer(data=request.data).is_valid(raise_exception=True)
        campaign = scoped_get(selectors.campaigns_for_staff(user=request.user, state=None), pk)
        return Response(MerchantCampaignOutput(services.campaign_end(campaign=campaign, actor=request.user)).data)


class MerchantUserSearchApi(MerchantApiView):
    @extend_schema(
        operation_id="merchant_users_search", tags=["merchant"], responses=MerchantUserOutput(many=True),
        parameters=[UserSearchQuery],
        examples=[ex.response("Found", [{"account_name": "alice", "wallets": [ex.WALLET]}])],
    )
    def get(self, request):
        query = query_params(UserSearchQuery, request)
        consumers = list(consumers_search(user=request.user, account_name=query["account_name"],
                                          prefix=query["prefix"], limit=query["limit"]))
        wallets = staff_wallets_with_open_request(user=request.user, consumers=consumers)
        by_consumer = {c.pk: [] for c in consumers}
        for wallet in wallets:
            by_consumer[wallet.consumer_id].append(wallet)
        rows = [{"account_name": c.account_name, "wallets": by_consumer[c.pk]} for c in consumers]
        return Response(MerchantUserOutput(rows, many=True).data)


class MerchantSummaryApi(MerchantApiView):
    @extend_schema(
        operation_id="merchant_summary", tags=["merchant"], responses=SummaryOutput,
        parameters=[SummaryQuery],
        examples=[ex.response("Summary", ex.SUMMARY)],
    )
    def get(self, request):
        query = query_params(SummaryQuery, request)
        store = scoped_get(stores_for_staff(user=request.user), query["store"]) if "store" in query else None
        return Response(SummaryOutput(merchant_summary(user=request.user, store=store)).data)


class MerchantInsightsApi(MerchantApiView):
    @extend_schema(
        operation_id="merchant_insights", tags=["merchant"], responses=InsightsOutput, parameters=[InsightsQuery],
        description=(
            "Campaign insights over the days `from`..`to` (local calendar days, both included; default the last "
            "30): sold, spent through allowance, withdrawals by outcome, retention rate, median time to refund and "
            "a daily series; outstanding and expiring are the open wallets now. For each campaign and in `total`."
        ),
    )
    def get(self, request):
        from refunds.insights import insights_for_staff

        query = query_params(InsightsQuery, request)
        store = scoped_get(stores_for_staff(user=request.user), query["store"]) if "store" in query else None
        campaign = scoped_get(selectors.campaigns_for_staff(user=request.user, state=None), query["campaign"]) if "campaign" in query else None
        if store is not None and campaign is not None and campaign.store_id != store.pk:
            raise Http404
        insights = insights_for_staff(user=request.user, store=store, campaign=campaign,
                                      start=query["from"], end=query["to"])
        return Response(InsightsOutput(insights).data)
