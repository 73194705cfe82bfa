"""Check every wallet against its ledger and its payments, every order's returns, every consumer's refunds and
every refund against its payments and the gateway; check that no wallet whose orders came back leaves principal
with the store; count rows marked for attention; exit non-zero on drift."""
import sys

from django.core.management.base import BaseCommand
from django.db.models import F, Sum

from allowance.models import LedgerEntry, Order, OrderAllocation, Payment, Wallet, split_principal
from refunds.models import Refund, RefundAllocation


def reconcile_findings(*, out=None) -> list[str]:
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
    kept = _principal_kept()
    findings += _nothing_kept_findings(kept)
    findings += _return_findings(kept)
    findings += _consumer_findings()
    findings += _gateway_findings()
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


def _principal_kept() -> dict[int, tuple[int, int, int]]:
    """{wallet: (principal paid, balance principal + refunds, spend not yet returned)} of every wallet."""
    refunded = dict(Refund.objects.values_list("wallet").annotate(s=Sum("amount")))
    out = dict(OrderAllocation.objects.values_list("wallet").annotate(
        s=Sum(F("principal") + F("bonus") - F("returned_principal") - F("returned_bonus"))))
    return {pk: (paid, principal + refunded.get(pk, 0), out.get(pk, 0))
            for pk, paid, principal in Wallet.objects.values_list("pk", "paid", "principal").iterator(chunk_size=5000)}


def _nothing_kept_findings(kept: dict[int, tuple[int, int, int]]) -> list[str]:
    """Nothing spent, nothing kept (SPEC §3): the principal the store keeps of a wallet (paid − balance − refunds)
    is never more than the spend still to be returned, and once every order that spent from the wallet is
    returned in full, balance + refunds = paid."""
    findings = []
    for pk, (paid, got, still_out) in sorted(kept.items()):
        if still_out == 0 and got != paid:
            findings.append(f"wallet {pk}: every order that spent from it is returned, but balance + refunds are "
                            f"{got} of {paid} paid (nothing spent, nothing kept)")
        elif paid - got > still_out:
            findings.append(f"wallet {pk}: the store keeps {paid - got} of principal but only {still_out} of spend is "
                            f"left to return (nothing spent, nothing kept)")
    return findings


def _return_findings(kept: dict[int, tuple[int, int, int]]) -> list[str]:
    """Per order, returned <= taken (in all and per wallet), and the principal its returns to a closed wallet
    gave back within the running-total rule ceil(r × p / a) of the allocation (SPEC §3) — or beyond it only where
    "nothing spent, nothing kept" made a return pay the difference, which leaves the store keeping exactly the
    wallet's spend still to be returned."""
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
        paid, got, still_out = kept[a.wallet_id]
        if back > rule and paid - got != still_out:
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


def _gateway_findings() -> list[str]:
    """Every succeeded refund against the gateway's applied payouts: the sandbox's own books (SandboxPayout), or
    for a real provider its answer to `payout_status` for each part."""
    from core.gateway import PayoutOutcome, SandboxGateway, get_gateway
    from refunds.payouts import payout_key

    parts = list(RefundAllocation.objects.filter(refund__payout_status=Refund.PayoutStatus.SUCCEEDED)
                 .only("pk", "refund_id", "payment_id", "amount").order_by("pk"))
    gateway = get_gateway()
    findings = []
    if isinstance(gateway, SandboxGateway):
        from core.models import SandboxPayout

        applied = dict(SandboxPayout.objects.filter(key__in=[payout_key(p) for p in parts]).values_list("key", "amount"))
        for part in parts:
            amount = applied.get(payout_key(part))
            if amount != part.amount:
                findings.append(f"refund {part.refund_id}: succeeded, but the gateway applied {amount or 0} of "
                                f"{part.amount} to payment {part.payment_id}")
        return findings
    for part in parts:
        result = gateway.payout_status(key=payout_key(part))
        if result.outcome != PayoutOutcome.SUCCEEDED:
            findings.append(f"refund {part.refund_id}: succeeded, but the gateway says {result.outcome.value} for "
                            f"payment {part.payment_id}")
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
