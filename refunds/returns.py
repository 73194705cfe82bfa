"""Returns of orders paid with allowance (SPEC §3). A return to an open wallet raises its total (and a pending
request follows the wallet); a return to a closed one refunds the principal part to the wallet's payments, so
returns live here, with refunds."""
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from allowance import locks
from allowance.models import LedgerEntry, Order, OrderAllocation, Payment, Wallet, split_principal
from allowance.services import ledger_write, wallet_set_total
from consumers.models import Consumer
from core import errors
from core.money import fen_to_yuan
from refunds.locks import requests_pending_lock
from refunds.refunds import refund_create
from refunds.services import withdrawal_follow_wallet


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
    """Return an order, whole (default) or in part, to the wallets it was paid from (SPEC §3 "Returns").

    An open wallet (active or frozen) gets the amount back and the split follows; a pending withdrawal request
    on it follows the wallet in the same transaction, and is refunded at once if the wallet is unconsumed again.
    A closed or expired wallet pays the principal part straight back to its own payments and the bonus part
    lapses; the principal is computed on the allocation's running total, and where that would leave the store
    keeping principal of goods it took back, the return pays the difference (`_closed_return_principal`).
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
        # Lock order: wallet → request → payments. A frozen wallet's pending request is locked before any refund.
        pending = {
            r.wallet_id: r for r in requests_pending_lock(
                wallet_ids=[w.pk for w in locked.values() if w.status == Wallet.Status.FROZEN])
        }
        followed = []
        for part in parts:
            wallet, allocation = locked[part.allocation.wallet_id], part.allocation
            if wallet.status != Wallet.Status.CLOSED and not wallet.is_expired(now):
                principal_delta, bonus_delta = wallet_set_total(wallet=wallet, total=wallet.total + part.amount)
                wallet.save(update_fields=["principal", "bonus"])
                ledger_write(
                    wallet=wallet, kind=LedgerEntry.Kind.SPEND_RETURN, principal_delta=principal_delta,
                    bonus_delta=bonus_delta, order=order, actor=consumer.user,
                )
                if wallet.pk in pending:
                    followed.append(wallet)
            else:
                principal_delta = _closed_return_principal(wallet=wallet, allocation=allocation, amount=part.amount)
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
        for wallet in followed:
            withdrawal_follow_wallet(wallet=wallet, request=pending[wallet.pk], actor=consumer.user, now=now)
        order.returned_amount += amount
        order.save(update_fields=["returned_amount"])
    return order


def _closed_return_principal(*, wallet: Wallet, allocation: OrderAllocation, amount: int) -> int:
    """The principal a return of `amount` to a closed (or expired) locked wallet gives back.

    On the allocation's running total (SPEC §3): after returns of r in all from an allocation that took a, of
    which p principal, ceil(r × p / a) has been given back — so one return of 1.00 and a hundred of 0.01 give
    the same. Never more than the wallet's own payments have left, nor more than its fair share: refunded plus
    held stays within ceil(paid × unconsumed / credited), so no sequence moves over 0.01 of bonus into principal.

    Nothing spent, nothing kept wins over the running total: the principal the store keeps of the wallet (paid −
    refunded − held) may never exceed the spend still out once this return is in, so every fen of it can still
    come back with the goods. Where the running total falls short of that (returns split across the close moved
    principal by the wallet's split, not the order's share), this return pays the difference, and the return
    that brings the wallet's last spend back leaves balance + refunds = paid exactly.
    """
    returned_after = allocation.returned + amount
    running = -((-returned_after * allocation.principal) // allocation.amount) - allocation.returned_principal
    # Payments and allocations of a wallet are written only under its lock, which the caller holds.
    refunded = Payment.objects.filter(wallet=wallet).aggregate(s=Sum("refunded_amount"))["s"] or 0
    still_out = (OrderAllocation.objects.filter(wallet=wallet).aggregate(
        s=Sum(F("principal") + F("bonus") - F("returned_principal") - F("returned_bonus"))
    )["s"] or 0) - amount
    share = split_principal(total=wallet.credited - still_out, paid=wallet.paid, credited=wallet.credited)
    fair = share - refunded - wallet.principal
    owed = (wallet.paid - refunded - wallet.principal) - still_out
    return max(0, min(max(running, owed), fair, amount))
