"""Returns of orders paid with allowance (SPEC §3). A return to an open wallet raises its total; a return to a
closed one refunds the principal part to the wallet's payments, so returns live here, with refunds."""
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Subquery, Sum
from django.utils import timezone

from allowance import locks
from allowance.models import LedgerEntry, Order, OrderAllocation, Payment, Wallet
from allowance.services import ledger_write, wallet_set_total
from consumers.models import Consumer
from core import errors
from core.money import fen_to_yuan
from refunds.refunds import refund_create


@dataclass(frozen=True)
class ReturnPart:
    allocation: OrderAllocation
    amount: int


def _return_parts(order: Order, amount: int) -> list[ReturnPart]:
    """Which allocations a return gives back to: the last wallet charged first."""
    parts, remaining = [], amount
    for allocation in order.allocations.order_by("-id"):
        if remaining == 0:
            break
        take = min(allocation.returnable, remaining)
        if take:
            parts.append(ReturnPart(allocation, take))
            remaining -= take
    return parts


def order_return(*, order: Order, consumer: Consumer, amount: int | None = None, now=None) -> Order:
    """Return an order, whole (default) or in part, to the wallets it was paid from.

    A wallet that is open gets the amount back and the split follows. A wallet already closed or expired
    pays the principal part straight back to the consumer as a refund, and the bonus part lapses.
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = locks.order_lock(id=order.pk)
        if order.consumer_id != consumer.pk:
            raise errors.NotFound()
        returnable = order.amount - order.returned_amount
        amount = returnable if amount is None else amount
        if amount <= 0 or amount > returnable:
            raise errors.ReturnExceedsOrder(returnable=fen_to_yuan(returnable))
        parts = _return_parts(order, amount)
        locked = locks.wallets_lock(ids=[p.allocation.wallet_id for p in parts])
        for part in parts:
            wallet, allocation = locked[part.allocation.wallet_id], part.allocation
            if wallet.status != Wallet.Status.CLOSED and not wallet.is_expired(now) and not _closed_since(allocation):
                principal_delta, bonus_delta = wallet_set_total(wallet=wallet, total=wallet.total + part.amount)
                wallet.save(update_fields=["principal", "bonus"])
                ledger_write(
                    wallet=wallet, kind=LedgerEntry.Kind.SPEND_RETURN, principal_delta=principal_delta,
                    bonus_delta=bonus_delta, order=order, actor=consumer.user,
                )
            else:
                principal_delta = min(_closed_return_principal(allocation, part.amount), _principal_owed(wallet))
                bonus_delta = part.amount - principal_delta
                refund = refund_create(wallet=wallet, amount=principal_delta, kind="return", order=order) if principal_delta else None
                # The wallet's balance does not move: the money passes through it to the payment and the bonus lapses.
                ledger_write(wallet=wallet, kind=LedgerEntry.Kind.SPEND_RETURN, principal_delta=principal_delta,
                             bonus_delta=bonus_delta, order=order, actor=consumer.user)
                if principal_delta:
                    ledger_write(wallet=wallet, kind=LedgerEntry.Kind.RETURN_REFUND, principal_delta=-principal_delta,
                                 bonus_delta=0, order=order, refund_id=refund.pk, actor=consumer.user)
                if bonus_delta:
                    ledger_write(wallet=wallet, kind=LedgerEntry.Kind.BONUS_LAPSE, principal_delta=0,
                                 bonus_delta=-bonus_delta, order=order, actor=consumer.user)
            allocation.returned_principal += principal_delta
            allocation.returned_bonus += bonus_delta
            allocation.save(update_fields=["returned_principal", "returned_bonus"])
        order.returned_amount += amount
        order.save(update_fields=["returned_amount"])
    return order


def _closed_since(allocation: OrderAllocation) -> bool:
    """True when the allocation's wallet was closed (refunded) after the order took from it, even if the
    consumer has bought it again since: that money belongs to the wallet's earlier, closed life."""
    spent = LedgerEntry.objects.filter(
        wallet_id=allocation.wallet_id, order_id=allocation.order_id, kind=LedgerEntry.Kind.SPEND
    ).order_by("pk").values("pk")[:1]
    return LedgerEntry.objects.filter(
        wallet_id=allocation.wallet_id, pk__gt=Subquery(spent),
        kind__in=[LedgerEntry.Kind.WITHDRAWAL_REFUND, LedgerEntry.Kind.EXPIRY_REFUND],
    ).exists()


def _principal_owed(wallet: Wallet) -> int:
    """Principal the consumer's payments can still take back beyond what the (locked) wallet holds.

    Rounding in the consumer's favour on spends and returns may leave an order's principal share a fen above
    this; the consumer never gets back more than they paid.
    """
    refundable = Payment.objects.filter(wallet=wallet).aggregate(
        left=Sum(F("amount") - F("refunded_amount"))
    )["left"] or 0
    return max(refundable - wallet.principal, 0)


def _closed_return_principal(allocation: OrderAllocation, amount: int) -> int:
    """The principal share of a return to a closed wallet: the allocation's own split, in the consumer's favour."""
    principal_left = max(allocation.principal - allocation.returned_principal, 0)
    if amount >= allocation.returnable:
        return min(principal_left, amount)
    share = -((-amount * allocation.principal) // allocation.amount) if allocation.amount else 0
    return min(share, principal_left, amount)
