"""Withdrawal API: the consumer's preview, request, list and cancel; merchant staff's list, refund and retention."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.fields import DateTimeField
from rest_framework.response import Response

from allowance.selectors import wallets_of_user
from api.permissions import MerchantApiView
from api.serializers import RetentionMessageOutput, WithdrawalRequestOutput
from core.api import examples as ex
from core.money import fen_to_yuan
from core.api.base import (
    PAGE_PARAMETERS, ApiView, EmptyBodySerializer, MoneyApiView, paged_response, query_params, scoped_get,
)
from core.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from refunds import services
from refunds.api.serializers import (
    MerchantRefundInput, MerchantWithdrawalRequestOutput, RetentionMessageInput, WithdrawalInput,
    WithdrawalPreviewOutput, WithdrawalStatusQuery,
)
from refunds.models import WithdrawalRequest
from refunds.selectors import request_list, requests_in_staff_stores, requests_of_user

_PRINCIPAL = WithdrawalInput().fields["principal"]


def _request_output(request_id):
    return WithdrawalRequestOutput(request_list().get(pk=request_id)).data


# DRF's own field writes the times exactly as the serializer does (ISO 8601 in the current time zone, UTC as `Z`).
_datetime_output = DateTimeField().to_representation


def _held_request_output(withdrawal) -> dict:
    """`WithdrawalRequestOutput` of a request just held, written directly: it has no resolution, no retention
    message and no refund yet, so every field is a value of the row just written. The serializer costs ~0.2 ms
    of CPU per request on this, the busiest money POST (docs/perf.md); tests/api/test_lean_money_paths.py checks
    that both give the same answer. The schema is still the serializer's (`extend_schema`)."""
    return {
        "id": withdrawal.pk,
        "wallet": withdrawal.wallet_id,
        "status": str(withdrawal.status),
        "resolution": None,
        "principal": fen_to_yuan(withdrawal.principal),
        "bonus_lapsed": fen_to_yuan(withdrawal.bonus_lapsed),
        "requested_at": _datetime_output(withdrawal.requested_at),
        "due_at": _datetime_output(withdrawal.due_at),
        "resolved_at": None,
        "retention_messages": [],
        "refund": None,
    }


def _new_request_output(withdrawal):
    """A request just made. A held one has no retention message and no refund yet, so nothing is read back;
    one refunded at once is read back with its refund."""
    if withdrawal.status != WithdrawalRequest.Status.PENDING:
        return _request_output(withdrawal.pk)
    return _held_request_output(withdrawal)


def _withdrawal_input(request) -> int | None:
    """`WithdrawalInput`'s `principal` (fen) or None. The bodies every client sends — `{}` or a valid
    `principal` — are read here directly; anything else goes through the serializer, so every error answer is
    exactly the serializer's."""
    data = request.data
    if type(data) is dict and data.keys() <= {"principal"}:
        if "principal" not in data:
            return None
        try:
            return _PRINCIPAL.to_internal_value(data["principal"])
        except ValidationError:
            pass
    serializer = WithdrawalInput(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data.get("principal")


class WithdrawalPreviewApi(ApiView):
    @extend_schema(operation_id="wallets_withdrawal_preview", tags=["consumer"], responses=WithdrawalPreviewOutput,
                   examples=[ex.response("Held refund", ex.PREVIEW)])
    def get(self, request, pk):
        wallet = scoped_get(wallets_of_user(user=request.user), pk)
        return Response(WithdrawalPreviewOutput(services.withdrawal_preview(wallet=wallet)).data)


class WithdrawalCreateApi(MoneyApiView):
    @extend_schema(
        operation_id="wallets_withdrawals_create", tags=["consumer"], request=WithdrawalInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WithdrawalRequestOutput, 409: OpenApiResponse(
            response=OpenApiTypes.OBJECT, description="Not withdrawable (closed, expired, a request open), or "
            "the principal has changed since the preview: `code` `principal_changed` with the new `principal` and "
            "`bonus_lapsed`.", examples=[ex.response("The principal has changed since the preview",
                                                    ex.PRINCIPAL_CHANGED, 409)])},
        examples=[ex.request("The principal of the preview", {"principal": "47.60"}),
                  ex.response("Held (the wallet was spent from)", ex.REQUEST_PENDING, 201)],
        description="Withdraw the wallet's principal: refunded at once if never spent, else held for "
                    "WITHDRAWAL_HOLD_SECONDS (48 hours by default). Send the `principal` of the preview the "
                    "consumer confirmed: if an order paid or returned has changed it since, the answer is a 409 "
                    "with the new `principal` and `bonus_lapsed`, and nothing moves.",
    )
    @idempotent
    def post(self, request, pk):
        seen_principal = _withdrawal_input(request)
        # By id: the service reads the wallet once, locked and scoped to the caller (someone else's is a 404).
        withdrawal = services.withdrawal_request(wallet=pk, actor=request.user, seen_principal=seen_principal)
        return Response(_new_request_output(withdrawal), status=status.HTTP_201_CREATED)


class WithdrawalListApi(ApiView):
    @extend_schema(operation_id="withdrawals_list", tags=["consumer"], parameters=PAGE_PARAMETERS,
                   responses=WithdrawalRequestOutput(many=True), examples=[ex.response("Requests", [ex.REQUEST_PENDING])])
    def get(self, request):
        return paged_response(request, requests_of_user(user=request.user), WithdrawalRequestOutput)


class WithdrawalDetailApi(ApiView):
    @extend_schema(operation_id="withdrawals_retrieve", tags=["consumer"], responses=WithdrawalRequestOutput,
                   examples=[ex.response("Request", ex.REQUEST_PENDING)])
    def get(self, request, pk):
        return Response(WithdrawalRequestOutput(scoped_get(requests_of_user(user=request.user), pk)).data)


class WithdrawalCancelApi(MoneyApiView):
    @extend_schema(
        operation_id="withdrawals_cancel", tags=["consumer"], request=EmptyBodySerializer,
        parameters=[IDEMPOTENCY_PARAMETER], responses={200: WithdrawalRequestOutput},
        examples=[ex.response("Cancelled", {**ex.REQUEST_PENDING, "status": "cancelled",
                                            "resolved_at": "2026-03-01T10:05:00+08:00"})],
        description="Cancel a pending request: `cancelled`, or `retained` after a retention message.",
    )
    @idempotent
    def post(self, request, pk):
        EmptyBodySerializer(data=request.data).is_valid(raise_exception=True)
        withdrawal = scoped_get(requests_of_user(user=request.user), pk)
        withdrawal = services.withdrawal_cancel(request=withdrawal, actor=request.user)
        return Response(_request_output(withdrawal.pk))


# --- merchant staff ------------------------------------------------------------------------


class MerchantWithdrawalListApi(MerchantApiView):
    @extend_schema(
        operation_id="merchant_withdrawals_list", tags=["merchant"], responses=MerchantWithdrawalRequestOutput(many=True),
        parameters=[WithdrawalStatusQuery, *PAGE_PARAMETERS],
        examples=[ex.response("Pending", [{**ex.REQUEST_PENDING, "account_name": "alice"}])],
    )
    def get(self, request):
        query = query_params(WithdrawalStatusQuery, request)
        requests = requests_in_staff_stores(user=request.user)
        if "status" in query:
            requests = requests.filter(status=query["status"])
        return paged_response(request, requests, MerchantWithdrawalRequestOutput)


class MerchantWithdrawalRefundApi(MoneyApiView):
    @extend_schema(
        operation_id="merchant_withdrawals_refund", tags=["merchant"], request=MerchantRefundInput,
        parameters=[IDEMPOTENCY_PARAMETER], responses={200: WithdrawalRequestOutput},
        examples=[ex.response("Refunded by the merchant", ex.REQUEST_REFUNDED)],
        description="Refund a pending request now: principal back to the consumer, bonus lapses. Send the "
                    "`principal` you showed the staff member: if a return has changed it since, the answer is a 409 "
                    "with the new amount and nothing moves.",
    )
    @idempotent
    def post(self, request, pk):
        serializer = MerchantRefundInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        withdrawal = scoped_get(requests_in_staff_stores(user=request.user), pk)
        withdrawal = services.withdrawal_refund(request=withdrawal, actor=request.user,
                                                seen_principal=serializer.validated_data.get("principal"))
        return Response(_request_output(withdrawal.pk))


class MerchantRetentionApi(MoneyApiView):
    @extend_schema(
        operation_id="merchant_withdrawals_retention", tags=["merchant"], request=RetentionMessageInput,
        parameters=[IDEMPOTENCY_PARAMETER], responses={201: RetentionMessageOutput},
        examples=[ex.request("Ask to stay", {"message": "Stay for a 10% coupon?"}),
                  ex.response("Sent", {"message": "Stay for a 10% coupon?", "created_at": "2026-03-01T10:30:00+08:00"}, 201)],
        description="Ask the consumer to keep the allowance (挽留); they see it on My Allowance.",
    )
    @idempotent
    def post(self, request, pk):
        serializer = RetentionMessageInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        withdrawal = scoped_get(requests_in_staff_stores(user=request.user), pk)
        message = services.withdrawal_retention_message(
            request=withdrawal, actor=request.user, message=serializer.validated_data["message"]
        )
        return Response(RetentionMessageOutput(message).data, status=status.HTTP_201_CREATED)
