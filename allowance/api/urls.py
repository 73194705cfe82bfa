"""/api/v1/: every contract path of SPEC §8. Anything else under it is a JSON 404."""
from django.urls import include, path, re_path, register_converter
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from allowance.api import views
from core.api.base import ApiView


class IdConverter:
    """A positive id of at most 19 digits; larger ones are answered with 404 by the look-up."""

    regex = "[0-9]{1,19}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "id")


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def not_found(request, *args, **kwargs):
    raise NotFound()


class PingApi(ApiView):
    """The load test's baseline (bench/): authenticated like every API view, does nothing else."""

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("ping/", PingApi.as_view(), name="api-ping"),
    path("", include("consumers.api.urls")),
    path("stores/", views.StoreListApi.as_view(), name="api-stores"),
    path("campaigns/", views.CampaignListApi.as_view(), name="api-campaigns"),
    path("campaigns/<id:pk>/purchase/", views.CampaignPurchaseApi.as_view(), name="api-campaign-purchase"),
    path("wallets/", views.WalletListApi.as_view(), name="api-wallets"),
    path("wallets/<id:pk>/", views.WalletDetailApi.as_view(), name="api-wallet"),
    path("wallets/<id:pk>/entries/", views.WalletEntryListApi.as_view(), name="api-wallet-entries"),
    path("orders/", views.OrderCreateApi.as_view(), name="api-orders"),
    path("orders/<id:pk>/return/", views.OrderReturnApi.as_view(), name="api-order-return"),
    path("", include("refunds.api.urls")),
    path("", include("merchants.api.urls")),
    re_path(r"^[\s\S]*$", not_found, name="api-not-found"),
]
