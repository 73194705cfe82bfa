"""A stateful property test over the money services (SPEC §3–§6).

Hypothesis drives random sequences of every money action — buy, spend, partial and whole returns, withdrawal
requests, cancel, retention messages, merchant and admin refunds, the sweep and expiry with a clock that only
moves forward — and after every step checks what must always hold:

- the split rule and ledger = balances, never negative (`reconcile_findings()` plus the closed-wallet rule);
- one open request per wallet, and a wallet is frozen exactly while it has one;
- at most one refund per withdrawal request, and a refunded request has its refund;
- per wallet, principal held + principal still out in orders + principal refunded = everything paid into it
  (not a fen created or lost), and refunds never exceed what was paid;
- an order's allocations add up to the order, returns included;
- the gateway applies each part of a refund at most once, and a succeeded refund was applied in full;
- every open wallet's principal is within what its own payments have left to refund;
- per order, returned <= taken, and the principal a return to a closed wallet gives back is within the
  running-total rule ceil(r × p / a) of its allocation, unless "nothing spent, nothing kept" made it pay more;
- nothing spent, nothing kept: per wallet the principal the store keeps is never more than the spend still to
  be returned, and once every order that spent from it is returned, balance + refunds = principal paid;
- per consumer, principal refunded <= principal paid, and per wallet no more than 0.01 moved from bonus to
  principal: refunded + held <= ceil(paid × (credited − net spent) / credited);
- a pending request's principal and lapsing bonus are its wallet's current ones, and no request is pending on
  an unconsumed wallet (total == credited: a return that gives everything back refunds the request at once).

Returns (whole, partial and a cent at a time) reach wallets in every state: open, frozen with a pending request,
withdrawn and expired, and every order of a wallet comes back partly before and partly after its close; consumers buy again after a close; merchants refund now after a return, with the amount
they saw (and a stale amount is refused).

Each example runs inside a savepoint (on the money database and on the gateway's) that teardown rolls back, so
examples are independent and cheap.
"""
import os
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import F, Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from core import errors
from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import LedgerEntry, Order, OrderAllocation, Payment, Wallet
from allowance.models import split_principal
from allowance.services import campaign_purchase, order_spend
from refunds.returns import order_return
from refunds import payouts, services
from refunds.models import Refund, RefundAllocation, WithdrawalRequest
from core.models import SandboxPayout
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# At least 300 examples × 40 steps in every `make test` (issue 11); the environment may only ask for more.
EXAMPLES, STEPS = max(int(os.environ.get("STATEFUL_EXAMPLES", 300)), 300), 40
# Small amounts find rounding mistakes (one fen of bonus turning into principal); large ones run wallets dry.
AMOUNTS = st.one_of(st.integers(1, 5), st.integers(1, 25_000))
PICK = st.integers(0, 1_000)


def pick(items, index):
    return items[index % len(items)] if items else None


class MoneyMachine(RuleBasedStateMachine):
    world: dict = {}  # the stores, people and campaigns, created once per test run (outside the savepoints)

    def __init__(self):
        super().__init__()
        # One savepoint on the money database and one on the gateway's books (a database of their own).
        self._atomics = [transaction.atomic(), transaction.atomic(using="gateway")]
        for atomic in self._atomics:
            atomic.__enter__()
        self.now = self.world["t0"]
        self.order_seq = 0

    def teardown(self):
        try:
            assert reconcile_findings() == []  # the command's own checks, once per example
        finally:
            for atomic, alias in zip(reversed(self._atomics), ("gateway", "default")):
                transaction.set_rollback(True, using=alias)
                atomic.__exit__(None, None, None)

    # --- helpers -------------------------------------------------------------------------

    def wallets(self):
        return list(Wallet.objects.select_related("consumer__user", "store").order_by("pk"))

    def requests(self, **filters):
        return list(WithdrawalRequest.objects.select_related("wallet__consumer__user").filter(**filters).order_by("pk"))

    # --- rules: the consumer ---------------------------------------------------------------

    @initialize(consumer=PICK, campaign=PICK)
    def first_purchase(self, consumer, campaign):
        self.buy(consumer, campaign)

    @rule(consumer=PICK, campaign=PICK)
    def buy(self, consumer, campaign):
        consumer, campaign = pick(self.world["consumers"], consumer), pick(self.world["campaigns"], campaign)
        before = Wallet.objects.filter(consumer=consumer, campaign=campaign).exclude(status="closed").first()
        closed = set(Wallet.objects.filter(consumer=consumer, campaign=campaign, status="closed").values_list("pk", flat=True))
        try:
            wallet = campaign_purchase(campaign=campaign, consumer=consumer, now=self.now)
        except (errors.CampaignNotActive, errors.PurchaseLimitReached, errors.OutOfStock, errors.WalletFrozen):
            return
        # then the open wallet (or a new one: a closed wallet stays closed) gained exactly the campaign's credit
        assert wallet.pk not in closed, f"buying again reopened closed wallet {wallet.pk}"
        assert wallet.total == (before.total if before else 0) + campaign.credit_amount
        assert wallet.status == Wallet.Status.ACTIVE

    @rule(consumer=PICK, store=PICK, amount=AMOUNTS)
    def spend(self, consumer, store, amount):
        consumer, store = pick(self.world["consumers"], consumer), pick(self.world["stores"], store)
        usable = sum(w.total for w in Wallet.objects.filter(consumer=consumer, store=store) if w.is_usable(self.now))
        self.order_seq += 1
        try:
            order = order_spend(consumer=consumer, store=store, order_ref=f"o{self.order_seq}", amount=amount, now=self.now)
        except errors.InsufficientAllowance:
            assert usable < amount, "a spend the usable balance covers was refused"
            return
        assert usable >= amount
        after = sum(w.total for w in Wallet.objects.filter(consumer=consumer, store=store) if w.is_usable(self.now))
        assert after == usable - amount
        assert sum(a.amount for a in order.allocations.all()) == amount

    @rule(order=PICK, amount=st.one_of(st.none(), AMOUNTS), as_someone_else=st.booleans())
    def return_order(self, order, amount, as_someone_else):
        order = pick(list(Order.objects.select_related("consumer").order_by("pk")), order)
        if order is None:
            return
        returnable = order.amount - order.returned_amount
        actor = order.consumer
        if as_someone_else:
            actor = next(c for c in self.world["consumers"] if c.pk != order.consumer_id)
        try:
            order_return(order=order, consumer=actor, amount=amount, now=self.now)
        except errors.NotFound:
            assert actor != order.consumer, "the order's own consumer was refused"
            return
        except errors.ReturnExceedsOrder:
            assert returnable == 0 or (amount is not None and amount > returnable)
            return
        assert actor == order.consumer, "someone else returned an order"
        order.refresh_from_db()
        assert order.returned_amount == order.amount - returnable + (returnable if amount is None else amount)

    @rule(order=PICK, pieces=st.integers(1, 6), cents=st.integers(1, 3))
    def return_a_cent_at_a_time(self, order, pieces, cents):
        """Tiny returns one after another: the running total decides the principal, not each piece."""
        order = pick(list(Order.objects.select_related("consumer").order_by("pk")), order)
        if order is None:
            return
        for _ in range(pieces):
            try:
                order_return(order=order, consumer=order.consumer, amount=cents, now=self.now)
            except errors.ReturnExceedsOrder:
                order.refresh_from_db()
                assert order.amount - order.returned_amount < cents
                return

    @rule(consumer=PICK, store=PICK, amount=AMOUNTS)
    def spend_then_ask_to_withdraw(self, consumer, store, amount):
        """The held path in one step: spend, then request withdrawal of the wallet the order took from."""
        consumer, store = pick(self.world["consumers"], consumer), pick(self.world["stores"], store)
        self.order_seq += 1
        try:
            order = order_spend(consumer=consumer, store=store, order_ref=f"o{self.order_seq}", amount=amount, now=self.now)
        except errors.InsufficientAllowance:
            return
        wallet = Wallet.objects.get(pk=order.allocations.order_by("pk").values_list("wallet", flat=True)[0])
        try:
            request = services.withdrawal_request(wallet=wallet, actor=consumer.user, now=self.now)
        except (errors.WalletClosed, errors.RequestAlreadyOpen, errors.WalletExpired, errors.NothingToWithdraw):
            return
        assert (request.status, request.principal, request.bonus_lapsed) == ("pending", wallet.principal, wallet.bonus)

    @rule(order=PICK, amount=st.one_of(st.none(), AMOUNTS))
    def return_to_a_frozen_wallet(self, order, amount):
        """A return while a request is pending: the request follows the wallet, or is refunded at once."""
        orders = list(Order.objects.filter(allocations__wallet__status="frozen", returned_amount__lt=F("amount"))
                      .select_related("consumer").distinct().order_by("pk"))
        order = pick(orders, order)
        if order is None:
            return
        returnable = order.amount - order.returned_amount
        order_return(order=order, consumer=order.consumer, amount=None if amount is None else min(amount, returnable),
                     now=self.now)

    @rule(wallet=PICK, as_someone_else=st.booleans())
    def withdraw(self, wallet, as_someone_else):
        wallet = pick(self.wallets(), wallet)
        if wallet is None:
            return
        actor = wallet.consumer.user
        if as_someone_else:
            actor = next(c.user for c in self.world["consumers"] if c.pk != wallet.consumer_id)
        principal, bonus, consumed = wallet.principal, wallet.bonus, wallet.consumed
        try:
            request = services.withdrawal_request(wallet=wallet, actor=actor, now=self.now)
        except errors.NotFound:
            assert as_someone_else
            return
        except (errors.WalletClosed, errors.RequestAlreadyOpen, errors.WalletExpired, errors.NothingToWithdraw):
            return
        assert not as_someone_else, "someone else withdrew a wallet"
        if consumed:
            assert (request.status, request.principal, request.bonus_lapsed) == ("pending", principal, bonus)
        else:
            assert (request.status, request.resolution) == ("refunded", "instant")
            assert Refund.objects.get(request=request).amount == principal

    @rule(request=PICK, as_someone_else=st.booleans())
    def cancel(self, request, as_someone_else):
        request = pick(self.requests(), request)
        if request is None:
            return
        actor = request.wallet.consumer.user
        if as_someone_else:
            actor = next(c.user for c in self.world["consumers"] if c.user_id != actor.pk)
        was_pending, retained = request.status == "pending", request.retention_messages.exists()
        try:
            request = services.withdrawal_cancel(request=request, actor=actor, now=self.now)
        except errors.NotFound:
            assert as_someone_else
            return
        except errors.RequestNotPending:
            assert not was_pending
            return
        assert was_pending and not as_someone_else
        assert request.status == ("retained" if retained else "cancelled")

    @rule(wallet=PICK, big=st.integers(1, 5_000), cents=st.lists(st.integers(1, 3), min_size=1, max_size=6),
          before=st.lists(st.sampled_from([None, 0, 1, 3]), min_size=12, max_size=12), pieces=st.integers(1, 4),
          by_expiry=st.booleans())
    def return_across_a_close(self, wallet, big, cents, before, pieces, by_expiry):
        """Every order that spent from a wallet comes back, partly while the wallet is open (some orders whole,
        some a cent or three, some not at all) and the rest after it closes, by a withdrawal the merchant
        refunds now or by expiry, in `pieces` returns each (SPEC §3 "Nothing spent, nothing kept"). An order of
        up to 50.00 and a few of a cent or three are spent first: the split makes some of those take only bonus,
        the shape that lost a fen (issue 19: a sampled simulation of this rule hits it about once in ten)."""
        wallet = pick([w for w in self.wallets() if w.status != "closed" and not w.is_expired(self.now)], wallet)
        if wallet is None:
            return
        for amount in (big, *cents):
            self.order_seq += 1
            try:
                order_spend(consumer=wallet.consumer, store=wallet.store, order_ref=f"o{self.order_seq}",
                            amount=amount, now=self.now)
            except errors.InsufficientAllowance:
                break
        orders = list(Order.objects.filter(allocations__wallet=wallet, returned_amount__lt=F("amount"))
                      .select_related("consumer").distinct().order_by("pk"))
        for order, part in zip(orders, before):  # None: the whole order; n: n cents of it (0: none before)
            if part != 0:
                order_return(order=order, consumer=order.consumer, now=self.now,
                             amount=None if part is None else min(part, order.amount - order.returned_amount))
        wallet.refresh_from_db()
        if wallet.status != "closed":  # (a return that left it unconsumed refunded a pending request at once)
            if by_expiry or wallet.principal == 0:
                self.now = max(self.now, wallet.valid_until)
                services.wallet_expire_due(now=self.now, batch_size=2)
            else:
                request = WithdrawalRequest.objects.filter(wallet=wallet, status="pending").first()
                if request is None:
                    request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user, now=self.now)
                if request.status == "pending":
                    staff = next(s for s in self.world["staff"]
                                 if s.store_memberships.filter(store=wallet.store_id).exists())
                    services.withdrawal_refund(request=request, actor=staff, now=self.now,
                                               seen_principal=request.principal)
        assert Wallet.objects.get(pk=wallet.pk).status == "closed"
        for order in orders:
            order.refresh_from_db()
            for _ in range(min(pieces - 1, order.amount - order.returned_amount - 1)):
                order_return(order=order, consumer=order.consumer, amount=1, now=self.now)
            if order.returned_amount < order.amount:  # (already whole if it came back in full before the close)
                order_return(order=order, consumer=order.consumer, now=self.now)
        # the invariant `the_books_balance` then checks that the wallet gave back every fen paid into it

    # --- rules: merchant staff and admins ------------------------------------------------

    @rule(request=PICK, staff=PICK)
    def retention_message(self, request, staff):
        request, staff = pick(self.requests(), request), pick(self.world["staff"], staff)
        if request is None:
            return
        try:
            services.withdrawal_retention_message(request=request, actor=staff, message="Stay: 10% off next week")
        except errors.NotFound:
            assert not staff.store_memberships.filter(store=request.wallet.store_id).exists()
            return
        except errors.RequestNotPending:
            assert request.status != "pending"

    @rule(request=PICK, staff=PICK, as_admin=st.booleans())
    def merchant_refund(self, request, staff, as_admin):
        request, staff = pick(self.requests(), request), pick(self.world["staff"], staff)
        if request is None:
            return
        was_pending = request.status == "pending"
        try:
            if as_admin:
                services.withdrawal_admin_refund(request=request, actor=self.world["admin"], now=self.now)
            else:  # the page and the API send the amount the staff member saw
                services.withdrawal_refund(request=request, actor=staff, now=self.now, seen_principal=request.principal)
        except errors.NotFound:
            assert not as_admin and not staff.store_memberships.filter(store=request.wallet.store_id).exists()
            return
        except errors.RequestNotPending:
            assert not was_pending
            return
        request.refresh_from_db()
        assert was_pending and (request.status, request.resolution) == ("refunded", "merchant")

    @rule(request=PICK, order=PICK, amount=AMOUNTS)
    def merchant_refund_after_a_return(self, request, order, amount):
        """A return lands while the staff member looks at a pending request: the amount they saw is stale."""
        pending = self.requests(status="pending")
        request = pick(pending, request)
        if request is None:
            return
        seen = request.principal
        orders = list(Order.objects.filter(allocations__wallet=request.wallet_id, returned_amount__lt=F("amount"))
                      .select_related("consumer").order_by("pk"))
        order = pick(orders, order)
        if order is not None:
            order_return(order=order, consumer=order.consumer, amount=min(amount, order.amount - order.returned_amount),
                         now=self.now)
        request.refresh_from_db()
        if request.status != "pending":  # the return left the wallet unconsumed: refunded at once
            assert (request.status, request.resolution) == ("refunded", "instant")
            return
        staff = next(s for s in self.world["staff"] if s.store_memberships.filter(store=request.wallet.store_id).exists())
        refunds = Refund.objects.count()
        try:
            services.withdrawal_refund(request=request, actor=staff, now=self.now, seen_principal=seen)
        except errors.PrincipalChanged:
            assert request.principal != seen
            assert Refund.objects.count() == refunds and WithdrawalRequest.objects.get(pk=request.pk).status == "pending"
            return
        assert request.principal == seen, "a refund-now with a stale amount went through"
        request.refresh_from_db()
        assert (request.status, request.resolution) == ("refunded", "merchant")

    # --- rules: time and the scheduled jobs ------------------------------------------------

    @rule(hours=st.integers(1, 60))
    def clock_moves(self, hours):
        self.now += timedelta(hours=hours)

    @rule(hours=st.integers(0, 60), twice=st.booleans())
    def sweep(self, hours, twice):
        self.now += timedelta(hours=hours)
        services.withdrawal_refund_due(now=self.now, batch_size=2)
        if twice:  # a second scheduler running the same job finds nothing left to do
            assert services.withdrawal_refund_due(now=self.now) == 0
        assert not WithdrawalRequest.objects.filter(status="pending", due_at__lte=self.now).exists()

    @rule(hours=st.integers(0, 60), twice=st.booleans())
    def expiry(self, hours, twice):
        self.now += timedelta(hours=hours)
        services.wallet_expire_due(now=self.now, batch_size=2)
        if twice:
            assert services.wallet_expire_due(now=self.now) == 0
        assert not Wallet.objects.filter(valid_until__lte=self.now).exclude(status="closed").exists()

    @rule(faulty=st.booleans())
    def payouts_run(self, faulty):
        """The payout task for every refund still processing, through a sandbox that may decline, time out
        or lose its answer (seeded, so an example replays the same way)."""
        rate = 0.25 if faulty else 0.0
        with override_settings(SANDBOX_GATEWAY_SEED=self.order_seq, SANDBOX_GATEWAY_LATENCY_MS=0,
                               SANDBOX_GATEWAY_FAILURE_RATE=rate, SANDBOX_GATEWAY_TIMEOUT_RATE=rate,
                               SANDBOX_GATEWAY_LOST_ANSWER_RATE=rate):
            for refund_id in Refund.objects.filter(payout_status="processing").values_list("pk", flat=True):
                payouts.refund_payout_execute(refund_id=refund_id, now=self.now)

    # --- invariants after every step -------------------------------------------------------
    # One snapshot of the (small) tables per step, every rule checked on it in Python: ~10 queries a step instead
    # of one or more per rule, so 300 examples × 40 steps stay within a few minutes. `reconcile` itself (which
    # checks the same and more, table by table) runs at the end of every example, in `teardown`.

    @invariant()
    def the_books_balance(self):
        wallets = {w.pk: w for w in Wallet.objects.all()}
        ledger = {w: (p or 0, b or 0) for w, p, b in LedgerEntry.objects.values_list("wallet").annotate(
            p=Sum("principal_delta"), b=Sum("bonus_delta"))}
        payments = list(Payment.objects.values_list("wallet_id", "consumer_id", "amount", "credit_amount", "refunded_amount"))
        refunds = list(Refund.objects.values_list("pk", "wallet_id", "wallet__consumer_id", "request_id", "order_id",
                                                  "kind", "amount", "payout_status"))
        allocations = list(OrderAllocation.objects.all())
        requests = list(WithdrawalRequest.objects.values_list("pk", "wallet_id", "status", "principal", "bonus_lapsed"))
        orders = dict(Order.objects.values_list("pk", "returned_amount"))
        per_wallet = {pk: {"paid": 0, "credited": 0, "left": 0, "refunded": 0, "out": 0, "net": 0} for pk in wallets}
        paid_by_consumer, refunded_by_consumer = {}, {}
        for wallet_id, consumer_id, amount, credit, refunded in payments:
            w = per_wallet[wallet_id]
            w["paid"] += amount
            w["credited"] += credit
            w["left"] += amount - refunded
            paid_by_consumer[consumer_id] = paid_by_consumer.get(consumer_id, 0) + amount
        return_refunds = {}
        for _, wallet_id, consumer_id, _, order_id, kind, amount, _ in refunds:
            per_wallet[wallet_id]["refunded"] += amount
            refunded_by_consumer[consumer_id] = refunded_by_consumer.get(consumer_id, 0) + amount
            if kind == "return":
                return_refunds[(order_id, wallet_id)] = return_refunds.get((order_id, wallet_id), 0) + amount
        returned_by_order, beyond_running_total = {}, []
        for a in allocations:
            per_wallet[a.wallet_id]["out"] += a.principal - a.returned_principal
            per_wallet[a.wallet_id]["net"] += a.amount - a.returned
            returned_by_order[a.order_id] = returned_by_order.get(a.order_id, 0) + a.returned
            # per order, returned <= taken (the running total is checked per wallet below)
            assert a.returned <= a.amount, f"allocation {a.pk}: returned {a.returned} of {a.amount}"
            rule = -((-a.returned * a.principal) // a.amount)
            given = return_refunds.get((a.order_id, a.wallet_id), 0)
            if given > rule:  # allowed only where "nothing spent, nothing kept" wins (checked per wallet below)
                beyond_running_total.append((a, given, rule))
        for order_id, returned in orders.items():
            assert returned_by_order.get(order_id, 0) == returned, f"order {order_id}: allocations disagree"
        for consumer_id, amount in refunded_by_consumer.items():
            assert amount <= paid_by_consumer.get(consumer_id, 0), f"consumer {consumer_id}: refunded {amount} > paid"
        pending = {}
        for pk, wallet_id, status, principal, bonus in requests:
            if status == "pending":
                assert wallet_id not in pending, f"wallet {wallet_id}: two open requests"
                pending[wallet_id] = (pk, principal, bonus)
        for pk, w in wallets.items():
            t = per_wallet[pk]
            # ledger = balances, never negative, the split rule while open, empty once closed
            assert ledger.get(pk, (0, 0)) == (w.principal, w.bonus), f"wallet {pk}: balance is not its ledger"
            assert w.principal >= 0 and w.bonus >= 0
            if w.status == "closed":
                assert (w.principal, w.bonus) == (0, 0)
            else:
                assert w.principal == split_principal(total=w.total, paid=w.paid, credited=w.credited), f"wallet {pk}"
                # every open wallet's principal within what its own payments have left to refund
                assert w.principal <= t["left"], f"wallet {pk}: principal {w.principal}, payments have {t['left']} left"
            assert (w.paid, w.credited) == (t["paid"], t["credited"]), f"wallet {pk}: paid/credited are not its payments"
            # not a fen created or lost: held + out in orders + refunded = paid; refunds never beyond it
            assert t["refunded"] <= t["paid"]
            assert w.principal + t["out"] + t["refunded"] == t["paid"], f"wallet {pk}: a fen created or lost"
            # no more than 0.01 of bonus turned principal: refunded + held <= ceil(paid × unconsumed / credited)
            fair = split_principal(total=t["credited"] - t["net"], paid=t["paid"], credited=t["credited"])
            got = t["refunded"] + w.principal
            assert got <= fair, f"wallet {pk}: principal refunded + held {got} > {fair} (bonus became principal)"
            # nothing spent, nothing kept: the principal the store still holds can always come back with the goods
            # not yet returned, and once every order that spent from the wallet is back, balance + refunds = paid
            kept = t["paid"] - got
            assert kept <= t["net"], f"wallet {pk}: the store keeps {kept} of principal, only {t['net']} is left to return"
            if t["net"] == 0:
                assert got == t["paid"], (f"wallet {pk}: every order returned in full, but balance + refunds = {got} "
                                          f"of {t['paid']} paid")
            # frozen exactly while a request is pending, and that request shows the wallet's current amounts
            assert (w.status == "frozen") == (pk in pending), f"wallet {pk}: {w.status}, pending {pk in pending}"
            if pk in pending:
                assert pending[pk][1:] == (w.principal, w.bonus), (
                    f"request {pending[pk][0]}: {pending[pk][1:]}, wallet {w.principal}/{w.bonus}")
                # a request waits only while the wallet is consumed; unconsumed again, it is refunded at once
                assert w.total < w.credited, (
                    f"request {pending[pk][0]} pending on unconsumed wallet {pk} (total {w.total} = credited {w.credited})")
        # per order, principal given back to a closed wallet within the running-total rule ceil(r × p / a), except
        # where "nothing spent, nothing kept" made a return pay the difference: from then on the store keeps of
        # that wallet exactly what is left to return
        for a, given, rule in beyond_running_total:
            t, w = per_wallet[a.wallet_id], wallets[a.wallet_id]
            assert t["paid"] - t["refunded"] - w.principal == t["net"], (
                f"order {a.order_id} wallet {a.wallet_id}: returns gave back {given} principal, the running total "
                f"allows {rule} (returned {a.returned} of {a.amount}, principal {a.principal})")
        # at most one refund per request, equal to what the request says; none for a request that did not refund
        by_request = {}
        for _, _, _, request_id, _, _, amount, _ in refunds:
            if request_id is not None:
                assert request_id not in by_request, f"request {request_id}: two refunds"
                by_request[request_id] = amount
        for pk, _, status, principal, _ in requests:
            if status == "refunded" and principal > 0:
                assert by_request.get(pk) == principal, f"request {pk}: principal {principal}, refund {by_request.get(pk)}"
            elif status != "refunded":
                assert pk not in by_request
        # the gateway applies each part of a refund at most once, and a succeeded refund in full
        succeeded = {pk for pk, *_, status in refunds if status == "succeeded"}
        applied = dict(SandboxPayout.objects.values_list("key", "amount"))
        for allocation in RefundAllocation.objects.all():
            paid = applied.pop(payouts.payout_key(allocation), 0)
            assert paid in (0, allocation.amount)
            if allocation.refund_id in succeeded:
                assert paid == allocation.amount, f"refund {allocation.refund_id} succeeded but was not paid"
        assert applied == {}, f"payouts for no refund: {applied}"


@pytest.fixture
def world(db):
    """Two stores (one with two campaigns of different ratios), their staff, an admin and three consumers."""
    t0 = timezone.now()
    store_a, store_b = StoreFactory(), StoreFactory()
    campaigns = [
        # pay 80 get 100, valid 5 days
        CampaignFactory(store=store_a, pay_amount=8000, credit_amount=10000, per_consumer_limit=3,
                        starts_at=t0 - timedelta(days=1), ends_at=t0 + timedelta(days=4), valid_until=t0 + timedelta(days=5)),
        # pay 100 get 110, valid 12 days, little stock
        CampaignFactory(store=store_a, pay_amount=10000, credit_amount=11000, per_consumer_limit=2, stock=4,
                        starts_at=t0 - timedelta(days=1), ends_at=t0 + timedelta(days=10), valid_until=t0 + timedelta(days=12)),
        # pay 33.33 get 50: a ratio that does not divide evenly, valid 3 days
        CampaignFactory(store=store_b, pay_amount=3333, credit_amount=5000, per_consumer_limit=3,
                        starts_at=t0 - timedelta(days=1), ends_at=t0 + timedelta(days=2), valid_until=t0 + timedelta(days=3)),
    ]
    return {
        "t0": t0,
        "stores": [store_a, store_b],
        "campaigns": campaigns,
        "staff": [StaffFactory(store=store_a).user, StaffFactory(store=store_b).user],
        "admin": UserFactory(username="chaos-admin", is_staff=True),
        "consumers": [ConsumerFactory(), ConsumerFactory(), ConsumerFactory()],
    }


def test_no_sequence_of_money_actions_breaks_the_books(world):
    # given two stores, their staff, an admin and three consumers
    MoneyMachine.world = world
    # when hypothesis runs hundreds of random sequences of every money action and the scheduled jobs
    # then after every single step the books balance (the invariants above)
    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], database=None,
        ),
    )
