"""A closed wallet stays closed (SPEC §1, issue 11): one open wallet per (consumer, campaign), not one wallet.

Until now buying a campaign again after a withdrawal reopened the closed wallet, so one wallet row held two or
more lives whose payments, spends, returns and refunds were pooled. This migration

1. drops the unique (consumer, campaign) constraint;
2. splits every reopened wallet into one wallet per life (data, below);
3. adds the partial unique constraint on open wallets (status != closed).

How a wallet's ledger is cut into lives: walking its entries in id order, a life is closed by a
`withdrawal_refund`/`expiry_refund` entry and the next `top_up` starts a new life. An entry caused by an order
(`spend_return`, `return_refund`, a `bonus_lapse` of a return) belongs to the life whose `spend` the order took
from (the old code sent returns of a closed life there too); every other entry to the life it falls in. Then
each life's payments (by their top-up entry), order allocations (by their spend), withdrawal requests (by their
entries, else by the time they were made), refunds (by their request, or by their return-refund entry) and
ledger entries move with it. The original row keeps the LAST life (the one a consumer may still hold open, so
its id, pending request and pages stay the same); each earlier life becomes a new, closed wallet with
paid/credited = its own payments and principal/bonus = the sum of its own entries (zero for a closed life).

The ledger is append-only by a trigger (0004) that refuses UPDATE. Re-pointing an entry's wallet does not change
any amount, so this migration disables that trigger for the ledger table inside its own transaction (after
`SET CONSTRAINTS ALL IMMEDIATE`, since ALTER TABLE waits for no queued foreign-key checks), updates `wallet_id`
only, and enables it again before committing (PostgreSQL DDL is transactional: if anything fails
the trigger is back as it was). Nothing else ever runs with the trigger off.

A refund the old code paid from a later life's payment (issue 11, sequence 1) is money already sent: the
migration cannot move it, and `reconcile` names such a wallet (its principal above its payments' refundable).
"""
from collections import defaultdict

from django.db import migrations, models

CLOSING = ("withdrawal_refund", "expiry_refund")
LEDGER = "allowance_ledgerentry"
TRIGGER = "allowance_ledgerentry_append_only"


def _reopened_wallet_ids(LedgerEntry) -> list[int]:
    first_close = {}
    for wallet_id, pk in LedgerEntry.objects.filter(kind__in=CLOSING).order_by("wallet_id", "pk").values_list(
        "wallet_id", "pk"
    ):
        first_close.setdefault(wallet_id, pk)
    ids = set()
    for wallet_id, pk in LedgerEntry.objects.filter(kind="top_up", wallet_id__in=list(first_close)).values_list(
        "wallet_id", "pk"
    ):
        if pk > first_close[wallet_id]:
            ids.add(wallet_id)
    return sorted(ids)


def _lives(entries) -> dict[int, int]:
    """{entry_id: life index} for one wallet's entries (in id order)."""
    life, closed, spend_life, out = 0, False, {}, {}
    for e in entries:
        if e.kind == "top_up" and closed:
            life, closed = life + 1, False
        if e.kind == "spend" and e.order_id is not None:
            spend_life.setdefault(e.order_id, life)
        if e.order_id is not None and e.kind != "spend" and e.order_id in spend_life:
            out[e.pk] = spend_life[e.order_id]
        else:
            out[e.pk] = life
        if e.kind in CLOSING:
            closed = True
    return out


def split_reopened_wallets(apps, schema_editor):
    Wallet = apps.get_model("allowance", "Wallet")
    LedgerEntry = apps.get_model("allowance", "LedgerEntry")
    Payment = apps.get_model("allowance", "Payment")
    OrderAllocation = apps.get_model("allowance", "OrderAllocation")
    WithdrawalRequest = apps.get_model("refunds", "WithdrawalRequest")
    Refund = apps.get_model("refunds", "Refund")
    ids = _reopened_wallet_ids(LedgerEntry)
    if not ids:
        return
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        # ALTER TABLE refuses while deferred (foreign-key) checks are queued on the table: run them now.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute(f"ALTER TABLE {LEDGER} DISABLE TRIGGER {TRIGGER}")
    for wallet in Wallet.objects.filter(pk__in=ids).order_by("pk"):
        entries = list(LedgerEntry.objects.filter(wallet_id=wallet.pk).order_by("pk"))
        life_of = _lives(entries)
        last = max(life_of.values())
        by_life = defaultdict(list)
        for e in entries:
            by_life[life_of[e.pk]].append(e)
        starts = {n: min(e.created_at for e in es if e.kind == "top_up") if any(e.kind == "top_up" for e in es)
                  else es[0].created_at for n, es in by_life.items()}
        target = {last: wallet.pk}
        for n in sorted(by_life):
            if n == last:
                continue
            es = by_life[n]
            payments = [e.payment_id for e in es if e.kind == "top_up" and e.payment_id]
            paid = sum(Payment.objects.filter(pk__in=payments).values_list("amount", flat=True))
            credited = sum(Payment.objects.filter(pk__in=payments).values_list("credit_amount", flat=True))
            closes = [e.created_at for e in es if e.kind in CLOSING]
            new = Wallet.objects.create(
                consumer_id=wallet.consumer_id, campaign_id=wallet.campaign_id, store_id=wallet.store_id,
                paid=paid, credited=credited, principal=sum(e.principal_delta for e in es),
                bonus=sum(e.bonus_delta for e in es), status="closed", valid_until=wallet.valid_until,
                closed_at=closes[-1] if closes else wallet.closed_at,
            )
            Wallet.objects.filter(pk=new.pk).update(created_at=starts[n])
            target[n] = new.pk
        moved_requests = {}
        for n, es in by_life.items():
            if n == last:
                continue
            to = target[n]
            LedgerEntry.objects.filter(pk__in=[e.pk for e in es]).update(wallet_id=to)
            Payment.objects.filter(pk__in=[e.payment_id for e in es if e.kind == "top_up" and e.payment_id]).update(
                wallet_id=to)
            OrderAllocation.objects.filter(wallet_id=wallet.pk, order_id__in=[
                e.order_id for e in es if e.kind == "spend" and e.order_id]).update(wallet_id=to)
            for e in es:
                if e.request_id:
                    moved_requests[e.request_id] = to
            Refund.objects.filter(pk__in=[e.refund_id for e in es if e.refund_id]).update(wallet_id=to)
        # Requests with no entries (cancelled, retained, pending): the life they were made in.
        order = sorted(by_life)
        for request in WithdrawalRequest.objects.filter(wallet_id=wallet.pk):
            if request.pk in moved_requests:
                continue
            life = order[0]
            for n in order:
                if starts[n] <= request.requested_at:
                    life = n
            if life != last:
                moved_requests[request.pk] = target[life]
        for request_id, to in moved_requests.items():
            WithdrawalRequest.objects.filter(pk=request_id).update(wallet_id=to)
            Refund.objects.filter(request_id=request_id).update(wallet_id=to)
        # The last life keeps the row: its own payments decide paid/credited (the old code had reset them).
        own = Payment.objects.filter(wallet_id=wallet.pk)
        Wallet.objects.filter(pk=wallet.pk).update(
            paid=sum(own.values_list("amount", flat=True)), credited=sum(own.values_list("credit_amount", flat=True)),
            created_at=starts[last],
        )
    if postgres:
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute(f"ALTER TABLE {LEDGER} ENABLE TRIGGER {TRIGGER}")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):
    dependencies = [
        ("allowance", "0009_wallet_attention_mark"),
        ("refunds", "0006_withdrawal_attention_mark"),
        ("consumers", "0001_initial"),
        ("merchants", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="wallet", name="wallet_one_per_consumer_campaign"),
        migrations.RunPython(split_reopened_wallets, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="wallet",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "closed"), _negated=True), fields=("consumer", "campaign"),
                name="wallet_one_open_per_consumer_campaign",
            ),
        ),
    ]
