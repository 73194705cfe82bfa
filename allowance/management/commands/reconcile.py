"""Check every wallet against its ledger and its payments, every order's returns, every consumer's refunds and
every refund against its payments and the gateway, both ways; count rows marked for attention; exit non-zero on
drift.

It reads the lagging side (core/db.py: the replica if there is one, else a streaming connection, else the
primary) in one REPEATABLE READ snapshot, so every figure is of the same moment; the gateway's books are read
just before it (see `_sandbox_books`)."""
import sys
from typing import NamedTuple

from django.core.management.base import BaseCommand
from django.db import connections, transaction
from django.db.models import F, Sum

from core.db import lagging_reads, stream_alias

from allowance.models import LedgerEntry, Order, OrderAllocation, Payment, Wallet, split_principal
from refunds.models import Refund, RefundAllocation


def reconcile_findings(*, out=None) -> list[str]:
    from core.gateway import get_gateway

    gateway = get_gateway()
    books = _sandbox_books(gateway)
    alias = stream_alias()
    connection = connections[alias]
    with lagging_reads(alias):
        if connection.in_atomic_block:  # a caller's transaction (a test's) is the snapshot already
            return _findings(gateway, books)
        with transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return _findings(gateway, books)


def _findings(gateway, books) -> list[str]:
    findings: list[str] = []
    sums = {
        row["wallet_id"]: (row["p"] or 0, row["b"] or 0)
        for row in LedgerEntry.objects.values("wallet_id").annotate(p=Sum("principal_delta"), b=Sum("bonus_delta"))
    }
    for w in Wallet.objects.only("pk", "principal", "bonus", "paid", "credited", "status").iterator(chunk_size=5000):
        p, b = sums.get(w.pk, (0, 0))
        if (p, b) != (w.principal, w.bonus):
            findings.append(f"wallet {w.pk}: balance principal={w.principal} bonus={w.bonus} but ledger says principal={p} bonus={b}")
        if w.principal < 0 or w.bonus < 0:
            findings.append(f"wallet {w.pk}: negative balance principal={w.principal} bonus={w.bonus}")
        expected = split_principal(total=w.principal + w.bonus, paid=w.paid, credited=w.credited)
        if w.status != Wallet.Status.CLOSED and w.principal != expected:
            findings.append(f"wallet {w.pk}: principal {w.principal} breaks the split rule (expected {expected})")
    allocated = {
        row["refund_id"]: row["s"] for row in RefundAllocation.objects.values("refund_id").annotate(s=Sum("amount"))
    }
    for r in Refund.objects.only("pk", "amount").iterator(chunk_size=5000):
        if allocated.get(r.pk, 0) != r.amount:
            findings.append(f"refund {r.pk}: amount {r.amount} but its payments get {allocated.get(r.pk, 0)}")
    by_payment = {
        row["payment_id"]: row["s"] for row in RefundAllocation.objects.values("payment_id").annotate(s=Sum("amount"))
    }
    for pay in Payment.objects.only("pk", "amount", "refunded_amount").iterator(chunk_size=5000):
        if by_payment.get(pay.pk, 0) != pay.refunded_amount:
            findings.append(f"payment {pay.pk}: refunded_amount {pay.refunded_amount} but refunds give {by_payment.get(pay.pk, 0)}")
        if pay.refunded_amount > pay.amount:
            findings.append(f"payment {pay.pk}: refunded {pay.refunded_amount} of {pay.amount}")
    findings += _open_wallet_findings()
    findings += _return_findings()
    findings += _consumer_findings()
    findings += _gateway_findings(gateway, books)
    findings += _attention_findings()
    return findings


def _open_wallet_findings() -> list[str]:
    """Every open wallet's principal within what its own payments have left to refund."""
    left = dict(Payment.objects.values_list("wallet").annotate(s=Sum(F("amount") - F("refunded_amount"))))
    return [
        f"wallet {pk}: principal {principal} but its payments have only {left.get(pk, 0)} left to refund"
        for pk, principal in Wallet.objects.exclude(status=Wallet.Status.CLOSED).filter(principal__gt=0)
        .order_by("pk").values_list("pk", "principal").iterator(chunk_size=5000)
        if principal > left.get(pk, 0)
    ]


def _return_findings() -> list[str]:
    """Per order, returned <= taken (in all and per wallet), and the principal its returns to a closed wallet
    gave back within the running-total rule ceil(r × p / a) of the allocation (SPEC §3)."""
    findings = []
    given = {(order, wallet): s for order, wallet, s in Refund.objects.filter(kind=Refund.Kind.RETURN)
             .values_list("order", "wallet").annotate(s=Sum("amount"))}
    returned_by_order: dict[int, int] = {}
    for a in OrderAllocation.objects.all().iterator(chunk_size=5000):
        returned_by_order[a.order_id] = returned_by_order.get(a.order_id, 0) + a.returned
        if a.returned > a.amount:
            findings.append(f"order {a.order_id}: wallet {a.wallet_id} got back {a.returned} but the order took {a.amount}")
        rule = -((-a.returned * a.principal) // a.amount) if a.amount else 0
        back = given.get((a.order_id, a.wallet_id), 0)
        if back > rule:
            findings.append(f"order {a.order_id}: returns to wallet {a.wallet_id} refunded {back} of principal, "
                            f"the running-total rule allows {rule}")
    for pk, amount, returned in Order.objects.values_list("pk", "amount", "returned_amount").iterator(chunk_size=5000):
        if returned > amount or returned != returned_by_order.get(pk, 0):
            findings.append(f"order {pk}: returned {returned} of {amount}, its wallets got back {returned_by_order.get(pk, 0)}")
    return findings


def _consumer_findings() -> list[str]:
    """Per consumer, principal refunded <= principal paid."""
    paid = dict(Payment.objects.values_list("consumer").annotate(s=Sum("amount")))
    return [
        f"consumer {consumer}: refunded {amount} but paid {paid.get(consumer, 0)}"
        for consumer, amount in Refund.objects.values_list("wallet__consumer").annotate(s=Sum("amount"))
        if amount > paid.get(consumer, 0)
    ]


def _sandbox_books(gateway) -> list[tuple[str, str, int]] | None:
    """The sandbox's applied payouts (key, payment reference, amount), read before our snapshot is taken: every
    payout in them was sent for a part already committed, so each must be found in the snapshot. None for a
    real provider, whose books reconcile asks through the gateway interface instead."""
    from core.gateway import SandboxGateway
    from core.models import SandboxPayout

    if not isinstance(gateway, SandboxGateway):
        return None
    return list(SandboxPayout.objects.values_list("key", "payment_reference", "amount").iterator(chunk_size=5000))


def _gateway_findings(gateway, books) -> list[str]:
    """Both directions between our refunds and the gateway's payouts (issue 20):

    - every part of a succeeded refund was applied at the gateway under its key, for its amount;
    - every payout the gateway applied is a part of ours, to the same payment, for the same amount, of a refund
      that succeeded (or is still being paid);
    - per payment, what the gateway refunded lies between what our succeeded refunds give it and that plus the
      parts still being paid, and never beyond what the payment paid.
    """
    from refunds.payouts import payout_key

    Status = Refund.PayoutStatus
    parts = {}  # key: (refund, payment, amount, refund's payout status)
    paid: dict[int, int] = {}  # payment: sum of its parts of succeeded refunds
    open_: dict[int, int] = {}  # payment: sum of its parts still being paid (or held for attention)
    references: dict[str, tuple[int, int]] = {}  # payment reference: (payment, amount paid)
    for pk, refund_id, payment_id, amount, payout_uuid, status, reference, paid_amount in (
            RefundAllocation.objects.order_by("pk")
            .values_list("pk", "refund_id", "payment_id", "amount", "payout_uuid", "refund__payout_status",
                         "payment__gateway_reference", "payment__amount").iterator(chunk_size=5000)):
        key = payout_key(_Part(refund_id, payment_id, payout_uuid))
        parts[key] = (refund_id, payment_id, amount, status)
        total = paid if status == Status.SUCCEEDED else open_
        total[payment_id] = total.get(payment_id, 0) + amount
        references[reference] = (payment_id, paid_amount)
    if books is None:
        return _provider_findings(gateway, parts, paid, open_, references)

    findings = []
    applied = {key: (reference, amount) for key, reference, amount in books}
    missing = [key for key, (_, _, _, status) in parts.items() if status == Status.SUCCEEDED and key not in applied]
    if missing:
        # A second look for parts that succeeded after the books were read.
        from core.models import SandboxPayout

        applied.update((key, (reference, amount)) for key, reference, amount in SandboxPayout.objects
                       .filter(key__in=missing).values_list("key", "payment_reference", "amount"))
        books = books + [(key, *applied[key]) for key in missing if key in applied]
    for key, (refund_id, payment_id, amount, status) in parts.items():
        if status == Status.SUCCEEDED and applied.get(key, ("", 0))[1] != amount:
            findings.append(f"refund {refund_id}: succeeded, but the gateway applied {applied.get(key, ('', 0))[1]} "
                            f"of {amount} to payment {payment_id}")
    refunded: dict[str, int] = {}
    unknown_references = {reference for _, reference, _ in books if reference not in references}
    references.update((reference, (pk, amount)) for pk, reference, amount in Payment.objects.filter(
        gateway_reference__in=unknown_references).values_list("pk", "gateway_reference", "amount"))
    for key, reference, amount in books:
        refunded[reference] = refunded.get(reference, 0) + amount
        payment = references.get(reference)
        if payment is None:
            findings.append(f"gateway payout {key}: {amount} to payment reference {reference}, which is no payment "
                            "of ours")
            continue
        part = parts.get(key)
        if part is None:
            findings.append(f"gateway payout {key}: {amount} to payment {payment[0]} belongs to no refund part of ours")
        elif part[1] != payment[0] or (part[3] != Status.SUCCEEDED and part[2] != amount):
            findings.append(f"gateway payout {key}: {amount} to payment {payment[0]}, but its part of refund "
                            f"{part[0]} is {part[2]} to payment {part[1]}")
        elif part[3] == Status.NEEDS_ATTENTION:
            findings.append(f"gateway payout {key}: applied, but refund {part[0]} still needs attention")
    for reference, (payment_id, paid_amount) in references.items():
        findings += _payment_total_findings(payment_id, paid_amount, refunded.get(reference, 0),
                                            paid.get(payment_id, 0), open_.get(payment_id, 0))
    return findings


class _Part(NamedTuple):
    refund_id: int
    payment_id: int
    payout_uuid: object


def _payment_total_findings(payment_id: int, paid_amount: int, refunded: int, ours: int, in_flight: int) -> list[str]:
    findings = []
    if not ours <= refunded <= ours + in_flight:
        findings.append(f"payment {payment_id}: the gateway refunded {refunded}, our succeeded refunds {ours}"
                        + (f" (and {in_flight} still being paid)" if in_flight else ""))
    if refunded > paid_amount:
        findings.append(f"payment {payment_id}: the gateway refunded {refunded} of the {paid_amount} it paid")
    return findings


def _provider_findings(gateway, parts, paid, open_, references) -> list[str]:
    """A real provider: each succeeded part asked by key (`payout_status`); each payment's refunded total asked
    (`payment_refunded_batch`, 100 at a time) — what catches a payout the database does not know."""
    from core.gateway import PayoutOutcome

    findings = []
    for key, (refund_id, payment_id, _, status) in parts.items():
        if status != Refund.PayoutStatus.SUCCEEDED:
            continue
        result = gateway.payout_status(key=key)
        if result.outcome != PayoutOutcome.SUCCEEDED:
            findings.append(f"refund {refund_id}: succeeded, but the gateway says {result.outcome.value} for "
                            f"payment {payment_id}")
    if not hasattr(gateway, "payment_refunded_batch"):
        return findings + ["the gateway cannot say how much of a payment it refunded (payment_refunded_batch): "
                           "payouts the database does not know go unchecked"]
    ordered = sorted(references)
    for start in range(0, len(ordered), 100):
        chunk = ordered[start:start + 100]
        for reference, answer in zip(chunk, gateway.payment_refunded_batch(chunk)):
            payment_id, paid_amount = references[reference]
            if answer.outcome != PayoutOutcome.SUCCEEDED:
                findings.append(f"payment {payment_id}: the gateway did not say what it refunded ({answer.outcome.value})")
                continue
            findings += _payment_total_findings(payment_id, paid_amount, answer.amount, paid.get(payment_id, 0),
                                                open_.get(payment_id, 0))
    return findings


def _attention_findings() -> list[str]:
    """Rows the scheduled jobs could not resolve (SPEC §4.8), while they are still unresolved."""
    from refunds.models import WithdrawalRequest

    findings = [
        f"withdrawal request {pk}: marked for attention at {at:%Y-%m-%d %H:%M} ({reason}), still pending"
        for pk, at, reason in WithdrawalRequest.objects.filter(status="pending", attention_at__isnull=False)
        .order_by("pk").values_list("pk", "attention_at", "attention_reason")
    ]
    findings += [
        f"wallet {pk}: marked for attention at {at:%Y-%m-%d %H:%M} ({reason}), still open"
        for pk, at, reason in Wallet.objects.exclude(status=Wallet.Status.CLOSED).filter(attention_at__isnull=False)
        .order_by("pk").values_list("pk", "attention_at", "attention_reason")
    ]
    from refunds.payouts import OVER_REFUND

    # A payout held back because the gateway had already refunded its payment (refunds/payouts.py): never paid.
    findings += [
        f"refund {pk}: payout held back, {error}"
        for pk, error in Refund.objects.filter(payout_status=Refund.PayoutStatus.NEEDS_ATTENTION,
                                               last_error__startswith=OVER_REFUND)
        .order_by("pk").values_list("pk", "last_error")
    ]
    return findings


class Command(BaseCommand):
    help = "Check every wallet against its ledger entries and every refund against its payments."

    def handle(self, *args, **options):
        findings = reconcile_findings()
        for line in findings:
            self.stderr.write(line)
        wallets = Wallet.objects.count()
        refunds = Refund.objects.count()
        if findings:
            self.stderr.write(f"reconcile: {len(findings)} disagreement(s) over {wallets} wallets and {refunds} refunds")
            sys.exit(1)
        self.stdout.write(f"reconcile: OK — {wallets} wallets and {refunds} refunds agree with the ledger")
