"""Withdrawal API: the consumer's preview, request, list and cancel; merchant staff's list, refund and retention."""
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from allowance.api import examples as ex
from allowance.api.base import (
    PAGE_PARAMETERS, ApiView, EmptyBodySerializer, MerchantApiView, MoneyApiView, paged_response, query_params,
    scoped_get,
)
from allowance.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from allowance.models import Wallet
from merchants.selectors import stores_for_staff
from refunds import services
from refunds.api.serializers import (
    MerchantRefundInput,
    MerchantWithdrawalRequestOutput, RetentionMessageInput, RetentionMessageOutput, WithdrawalPreviewOutput,
    WithdrawalRequestOutput, WithdrawalStatusQuery,
)
from refunds.models import RetentionMessage, WithdrawalRequest


def requests_of(user):
    """The caller's own withdrawal requests, newest first."""
    return (
        WithdrawalRequest.objects.filter(wallet__consumer__user=user)
        .select_related("refund").prefetch_related("retention_messages").order_by("-requested_at", "-pk")
    )


def requests_for_staff(user):
    """Requests in the staff member's stores, soonest due first (resolved ones, without a due time, last)."""
    from django.db.models import F

    return (
        WithdrawalRequest.objects.filter(wallet__store__in=stores_for_staff(user=user))
        .select_related("refund", "wallet__consumer").prefetch_related("retention_messages")
        .order_by(F("due_at").asc(nulls_last=True), "pk")
    )


def _request_output(request_id):
    return WithdrawalRequestOutput(requests_of_any().get(pk=request_id)).data


def _new_request_output(withdrawal):
    """A request just made. A held one has no retention message and no refund yet, so nothing is read back;
    one refunded at once is read back with its refund."""
    if withdrawal.status != WithdrawalRequest.Status.PENDING:
        return _request_output(withdrawal.pk)
    WithdrawalRequest.refund.related.set_cached_value(withdrawal, None)
    withdrawal._prefetched_objects_cache = {"retention_messages": RetentionMessage.objects.none()}
    return WithdrawalRequestOutput(withdrawal).data


def requests_of_any():
    return WithdrawalRequest.objects.select_related("refund").prefetch_related("retention_messages")


class WithdrawalPreviewApi(ApiView):
    @extend_schema(operation_id="wallets_withdrawal_preview", tags=["consumer"], responses=WithdrawalPreviewOutput,
                   examples=[ex.response("Held refund", ex.PREVIEW)])
    def get(self, request, pk):
        wallet = scoped_get(Wallet.objects.filter(consumer__user=request.user), pk)
        return Response(WithdrawalPreviewOutput(services.withdrawal_preview(wallet=wallet)).data)


class WithdrawalCreateApi(MoneyApiView):
    @extend_schema(
        operation_id="wallets_withdrawals_create", tags=["consumer"], request=EmptyBodySerializer,
        parameters=[IDEMPOTENCY_PARAMETER], responses={201: WithdrawalRequestOutput},
        examples=[ex.response("Held (the wallet was spent from)", ex.REQUEST_PENDING, 201)],
        description="Withdraw the wallet's principal: refunded at once if never spent, else held for "
                    "WITHDRAWAL_HOLD_SECONDS (48 hours by default).",
    )
    @idempotent
    def post(self, request, pk):
        EmptyBodySerializer(data=request.data).is_valid(raise_exception=True)
        # By id: the service reads the wallet once, locked and scoped to the caller (someone else's is a 404).
        withdrawal = services.withdrawal_request(wallet=pk, actor=request.user)
        return Response(_new_request_output(withdrawal), status=status.HTTP_201_CREATED)


class WithdrawalListApi(ApiView):
    @extend_schema(operation_id="withdrawals_list", tags=["consumer"], parameters=PAGE_PARAMETERS,
                   responses=WithdrawalRequestOutput(many=True), examples=[ex.response("Requests", [ex.REQUEST_PENDING])])
    def get(self, request):
        return paged_response(request, requests_of(request.user), WithdrawalRequestOutput)


class WithdrawalDetailApi(ApiView):
    @extend_schema(operation_id="withdrawals_retrieve", tags=["consumer"], responses=WithdrawalRequestOutput,
                   examples=[ex.response("Request", ex.REQUEST_PENDING)])
    def get(self, request, pk):
        return Response(WithdrawalRequestOutput(scoped_get(requests_of(request.user), pk)).data)


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
        withdrawal = scoped_get(requests_of(request.user), pk)
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
        requests = requests_for_staff(request.user)
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
        withdrawal = scoped_get(requests_for_staff(request.user), pk)
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
        withdrawal = scoped_get(requests_for_staff(request.user), pk)
        message = services.withdrawal_retention_message(
            request=withdrawal, actor=request.user, message=serializer.validated_data["message"]
        )
        return Response(RetentionMessageOutput(message).data, status=status.HTTP_201_CREATED)
