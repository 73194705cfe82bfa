"""Refunds: principal paid back to a wallet's own payments, newest payment first, never beyond what a payment
has left; the payout to the gateway runs after commit (refunds/payouts.py). Called by the withdrawal rules
(refunds/services.py) and by returns to a closed wallet (refunds/returns.py), inside their transaction, with
the wallets locked."""
import uuid
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from allowance.locks import payments_lock
from allowance.models import Order, Payment, Wallet
from core.bulk import rows_insert, rows_update
from refunds.models import Refund, RefundAllocation, WithdrawalRequest
from refunds.payouts import payout_enqueue


def refund_create(*, wallet: Wallet, amount: int, kind: str, request: WithdrawalRequest | None = None,
                  order: Order | None = None) -> Refund:
    """Commit a refund of `amount` to the locked wallet's payments; its payout runs after commit."""
    [refund_id] = refund_rows_create(
        [(wallet.pk, amount, kind, request.pk if request else None, order.pk if order else None)],
        created_at=timezone.now(),
    )
    return Refund.objects.get(pk=refund_id)


def refund_rows_create(items: list[tuple[int, int, str, int | None, int | None]], *, created_at) -> list[int]:
    """Insert one refund per (wallet_id, amount, kind, request_id, order_id) and return their ids in order.

    Each refund goes to its wallet's payments newest first, never beyond what a payment has left; the payments
    are locked (after their wallets, which the caller holds) in wallet order. One after-commit hand-off carries
    every payout of the batch. Plain tuples, no model instances (docs/perf.md, "Bulk rows").
    """
    if not items:
        return []
    refund_ids = rows_insert(Refund, ["wallet_id", "amount", "kind", "request_id", "order_id", "created_at"],
                              [(wallet_id, amount, kind, request_id, order_id, created_at)
                               for wallet_id, amount, kind, request_id, order_id in items])
    payments_by_wallet: dict[int, list[list[int]]] = {}
    for payment_id, wallet_id, refundable in (
        payments_lock(wallet_ids=[item[0] for item in items])
        .values_list("pk", "wallet_id", F("amount") - F("refunded_amount"))
    ):
        payments_by_wallet.setdefault(wallet_id, []).append([payment_id, refundable, 0])
    touched: dict[int, list[int]] = {}
    allocations = []
    for (wallet_id, amount, *_), refund_id in zip(items, refund_ids):
        remaining = amount
        for payment in payments_by_wallet.get(wallet_id, ()):
            if remaining == 0:
                break
            part = min(payment[1] - payment[2], remaining)
            if part <= 0:
                continue
            payment[2] += part
            touched[payment[0]] = payment
            allocations.append((refund_id, payment[0], part, uuid.uuid4()))
            remaining -= part
        if remaining:
            # Principal can never exceed what was paid and not yet refunded; if it does the data is corrupt.
            raise RuntimeError(f"wallet {wallet_id}: {remaining} fen of principal has no payment to go back to")
    # refunded_amount is raised by this batch's part in the statement itself, never set from a value read here.
    rows_update(Payment, ["refunded_amount"], [(payment_id, added) for payment_id, _, added in touched.values()],
                 add=True)
    rows_insert(RefundAllocation, ["refund_id", "payment_id", "amount", "payout_uuid"], allocations)
    # One message per batch keeps the hand-off off the sweep's critical path; the payout worker pays the refunds in
    # gateway batches from there. It never raises: if the broker is down the payout re-drive finds the refunds.
    transaction.on_commit(partial(payout_enqueue, refund_ids))
    return refund_ids
