"""Paying committed refunds out through the gateway, after commit, idempotently by key."""
from django.db import transaction
from django.utils import timezone

from refunds.gateway import PayoutOutcome, get_gateway
from refunds.models import Refund


def payout_key(allocation) -> str:
    return f"refund-{allocation.refund_id}-payment-{allocation.payment_id}"


def refund_payout_execute(*, refund_id: int) -> str:
    """Pay out each part of a refund that has no gateway reference yet; the key makes a repeat harmless."""
    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is None or refund.payout_status != Refund.PayoutStatus.PROCESSING:
        return refund.payout_status if refund else "missing"
    gateway = get_gateway()
    for allocation in refund.allocations.select_related("payment").filter(gateway_reference=""):
        result = gateway.payout(
            key=payout_key(allocation), payment_reference=allocation.payment.gateway_reference, amount=allocation.amount
        )
        if result.outcome != PayoutOutcome.SUCCEEDED:
            return "pending"
        allocation.gateway_reference = result.reference
        allocation.save(update_fields=["gateway_reference"])
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.payout_status == Refund.PayoutStatus.PROCESSING:
            refund.payout_status = Refund.PayoutStatus.SUCCEEDED
            refund.paid_at = timezone.now()
            refund.save(update_fields=["payout_status", "paid_at"])
    return refund.payout_status
