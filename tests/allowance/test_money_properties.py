"""SPEC §3 and §6 as properties: whatever consumers, merchants and the scheduled jobs do, in any order,
every wallet keeps principal = ceil(total·paid/credited), bonus = total − principal, nothing negative,
withdrawable principal within what was paid and not yet refunded, and the ledger equal to the balances."""
import os
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import errors
from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import Order, Payment, Wallet, split_principal
from allowance.services import campaign_purchase, order_spend
from refunds.returns import order_return
from refunds import services as withdrawals
from refunds.models import Refund, WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory, StoreFactory

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("MONEY_PROPERTY_EXAMPLES", "2000"))
HOURS = timedelta(hours=1)

# What one step may be. Amounts are small and ratios awkward so that rounding is exercised hard.
buy = st.tuples(st.just("buy"), st.integers(0, 2))
spend = st.tuples(st.just("spend"), st.one_of(st.integers(1, 5), st.integers(1, 30000)))
give_back = st.tuples(st.just("return"), st.integers(0, 7), st.one_of(st.none(), st.integers(1, 5), st.integers(1, 20000)))
withdraw = st.tuples(st.just("withdraw"), st.integers(0, 2))
cancel = st.tuples(st.just("cancel"), st.integers(0, 2), st.booleans())  # booleans: retention message first
refund_now = st.tuples(st.just("refund_now"), st.integers(0, 2))
clock = st.tuples(st.just("wait"), st.sampled_from([1, 24, 49, 24 * 4, 24 * 8]))
step = st.one_of(buy, spend, give_back, withdraw, cancel, refund_now, clock)


@pytest.fixture
def world(db):
    """One consumer, one store with three campaigns of awkward ratios and different validity, one staff member."""
    start = timezone.now()
    store = StoreFactory()
    campaigns = [
        # valid 3 days: the clock can run past it, so returns and spends meet expired wallets
        CampaignFactory(store=store, pay_amount=8000, credit_amount=10000, starts_at=start - HOURS,
                        ends_at=start + 2 * 24 * HOURS, valid_until=start + 3 * 24 * HOURS, per_consumer_limit=3),
        CampaignFactory(store=store, pay_amount=333, credit_amount=1000, starts_at=start - HOURS,
                        ends_at=start + 10 * 24 * HOURS, valid_until=start + 30 * 24 * HOURS, per_consumer_limit=3),
        CampaignFactory(store=store, pay_amount=9999, credit_amount=10001, starts_at=start - HOURS,
                        ends_at=start + 5 * 24 * HOURS, valid_until=start + 6 * 24 * HOURS, per_consumer_limit=2),
    ]
    return {
        "start": start, "store": store, "campaigns": campaigns, "consumer": ConsumerFactory(),
        "staff": StaffFactory(store=store).user,
    }


def _check_invariants(consumer):
    refundable_by_wallet = {
        row["wallet_id"]: row["left"]
        for row in Payment.objects.filter(consumer=consumer).values("wallet_id").annotate(
            left=Sum("amount") - Sum("refunded_amount"))
    }
    pending = set(WithdrawalRequest.objects.filter(wallet__consumer=consumer, status="pending").values_list("wallet_id", flat=True))
    for w in Wallet.objects.filter(consumer=consumer):
        total = w.principal + w.bonus
        assert w.principal >= 0 and w.bonus >= 0, w
        if w.status != Wallet.Status.CLOSED:
            assert w.principal == split_principal(total=total, paid=w.paid, credited=w.credited), w
        else:
            assert total == 0, w
        assert w.principal <= w.paid, w
        # Withdrawable principal can always go back to the consumer's payments.
        refundable = refundable_by_wallet.get(w.pk, 0)
        assert w.principal <= refundable, (w, w.principal, refundable)
        assert (w.pk in pending) == (w.status == Wallet.Status.FROZEN), w


def _usable_total(consumer, store, now):
    return sum(
        w.total for w in Wallet.objects.filter(consumer=consumer, store=store) if w.is_usable(now)
    )


def _run(world, steps):
    consumer, store, staff, campaigns = world["consumer"], world["store"], world["staff"], world["campaigns"]
    now = world["start"]
    wallets = {}
    orders = []
    user = consumer.user
    for n, action in enumerate(steps):
        kind = action[0]
        if kind == "wait":
            now += action[1] * HOURS
        elif kind == "buy":
            campaign = campaigns[action[1]]
            try:
                wallets[action[1]] = campaign_purchase(campaign=campaign, consumer=consumer, now=now)
            except (errors.CampaignNotActive, errors.PurchaseLimitReached, errors.WalletFrozen):
                pass
        elif kind == "spend":
            amount = action[1]
            available = _usable_total(consumer, store, now)
            try:
                order = order_spend(consumer=consumer, store=store, order_ref=f"o{n}", amount=amount, now=now)
            except errors.InsufficientAllowance:
                assert amount > available
                assert _usable_total(consumer, store, now) == available
            else:
                assert amount <= available
                assert _usable_total(consumer, store, now) == available - amount
                taken = [(a.principal, a.bonus) for a in order.allocations.all()]
                assert sum(p + b for p, b in taken) == amount
                orders.append(order)
        elif kind == "return":
            if not orders:
                continue
            order = Order.objects.get(pk=orders[action[1] % len(orders)].pk)
            returnable = order.amount - order.returned_amount
            try:
                order_return(order=order, consumer=consumer, amount=action[2], now=now)
            except errors.ReturnExceedsOrder:
                assert returnable == 0 or (action[2] is not None and action[2] > returnable)
            else:
                order.refresh_from_db()
                expected = returnable if action[2] is None else action[2]
                assert order.returned_amount == order.amount - returnable + expected
        elif kind in {"withdraw", "cancel", "refund_now"}:
            wallet = wallets.get(action[1])
            if wallet is None:
                continue
            if kind == "withdraw":
                try:
                    request = withdrawals.withdrawal_request(wallet=wallet, actor=user, now=now)
                except (errors.WalletClosed, errors.RequestAlreadyOpen, errors.WalletExpired, errors.NothingToWithdraw):
                    continue
                assert request.status in {"pending", "refunded"}
                continue
            request = WithdrawalRequest.objects.filter(wallet=wallet, status="pending").first()
            if request is None:
                continue
            if kind == "cancel":
                if action[2]:
                    withdrawals.withdrawal_retention_message(request=request, actor=staff, message="Stay with us")
                ended = withdrawals.withdrawal_cancel(request=request, actor=user, now=now)
                assert ended.status == ("retained" if action[2] else "cancelled")
            else:
                ended = withdrawals.withdrawal_refund(request=request, actor=staff, now=now)
                assert (ended.status, ended.resolution) == ("refunded", "merchant")
        # The scheduled jobs run between every two steps, as beat would.
        withdrawals.withdrawal_refund_due(now=now)
        withdrawals.wallet_expire_due(now=now)
        _check_invariants(consumer)
    findings = reconcile_findings()
    assert findings == []
    # A request resolves once: never more than one refund per request.
    assert Refund.objects.filter(request__isnull=False).values("request").distinct().count() == Refund.objects.filter(
        request__isnull=False
    ).count()


@settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_any_sequence_of_money_moves_keeps_the_split_rule_and_the_ledger(world, steps):
    # Each example runs in its own savepoint, rolled back, so examples never see one another.
    with transaction.atomic():
        try:
            _run(world, steps)
        finally:
            transaction.set_rollback(True)
