"""Check every wallet against its ledger and every refund against its payments; exit non-zero on drift."""
import sys

from django.core.management.base import BaseCommand
from django.db.models import Sum

from allowance.models import LedgerEntry, Payment, Wallet, split_principal
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
    findings += _attention_findings()
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
