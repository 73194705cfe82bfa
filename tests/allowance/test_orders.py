"""SPEC §3 checkout: the order in which wallets pay, and returns (whole, partial, across wallets, to closed
or expired wallets) going back to the wallets the order took from."""
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from core import errors
from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import LedgerEntry, Payment, Wallet
from allowance.services import campaign_purchase, order_spend
from refunds.returns import order_return
from refunds import services as withdrawals
from refunds.models import Refund
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory, StoreFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def fresh(wallet):
    wallet.refresh_from_db()
    return wallet.principal, wallet.bonus, wallet.status


def taken(order):
    return {a.wallet_id: (a.principal, a.bonus) for a in order.allocations.all()}


def refunded_to_payments(wallet):
    return Payment.objects.filter(wallet=wallet).aggregate(s=Sum("refunded_amount"))["s"] or 0


@pytest.fixture
def store():
    return StoreFactory()


@pytest.fixture
def staff(store):
    return StaffFactory(store=store).user


def campaign_in(store, *, valid_days, pay=8000, credit=10000, **extra):
    now = timezone.now()
    return CampaignFactory(store=store, pay_amount=pay, credit_amount=credit, starts_at=now - DAY,
                           ends_at=now + DAY, valid_until=now + valid_days * DAY, **extra)


# --- spending order ----------------------------------------------------------------------------


def test_an_order_is_paid_from_the_wallet_that_expires_soonest_first(store, consumer):
    later = campaign_purchase(campaign=campaign_in(store, valid_days=60), consumer=consumer)
    sooner = campaign_purchase(campaign=campaign_in(store, valid_days=10), consumer=consumer)

    order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=12000)

    assert taken(order) == {sooner.pk: (8000, 2000), later.pk: (1600, 400)}
    assert fresh(sooner)[:2] == (0, 0) and fresh(later)[:2] == (6400, 1600)


def test_wallets_valid_equally_long_pay_oldest_first(store, consumer):
    campaign_a, campaign_b = campaign_in(store, valid_days=30), campaign_in(store, valid_days=30)
    campaign_b.valid_until = campaign_a.valid_until
    campaign_b.save()
    older = campaign_purchase(campaign=campaign_a, consumer=consumer)
    newer = campaign_purchase(campaign=campaign_b, consumer=consumer)

    order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=500)

    assert taken(order) == {older.pk: (400, 100)}
    assert fresh(newer)[:2] == (8000, 2000)


def test_frozen_closed_and_expired_wallets_are_skipped_at_checkout(store, consumer, staff):
    now = timezone.now()
    frozen = campaign_purchase(campaign=campaign_in(store, valid_days=5), consumer=consumer)
    closed = campaign_purchase(campaign=campaign_in(store, valid_days=6), consumer=consumer)
    expiring = campaign_purchase(campaign=campaign_in(store, valid_days=2), consumer=consumer)
    usable = campaign_purchase(campaign=campaign_in(store, valid_days=90), consumer=consumer)
    order_spend(consumer=consumer, store=store, order_ref="first", amount=expiring.total + 100)  # consumes `frozen`
    withdrawals.withdrawal_request(wallet=frozen, actor=consumer.user)  # held: wallet frozen
    withdrawals.withdrawal_request(wallet=closed, actor=consumer.user)  # instant: wallet closed
    expiring_wallet = campaign_purchase(campaign=campaign_in(store, valid_days=3), consumer=consumer)
    assert fresh(frozen)[2] == "frozen" and fresh(closed)[2] == "closed"

    in_four_days = now + 4 * DAY  # past `expiring_wallet`'s validity, not yet swept
    order = order_spend(consumer=consumer, store=store, order_ref="second", amount=3000, now=in_four_days)

    assert set(taken(order)) == {usable.pk}
    assert fresh(expiring_wallet)[:2] == (8000, 2000)
    with pytest.raises(errors.InsufficientAllowance, match="70.00"):
        order_spend(consumer=consumer, store=store, order_ref="third", amount=7001, now=in_four_days)


# --- returns -----------------------------------------------------------------------------------


def test_a_partial_then_whole_return_restores_the_wallet_by_the_split_rule(store, consumer):
    wallet = campaign_purchase(campaign=campaign_in(store, valid_days=30), consumer=consumer)
    order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=5000)

    order_return(order=order, consumer=consumer, amount=1234)
    assert fresh(wallet)[:2] == (4988, 1246)  # total 62.34 → principal ceil(49.872) = 49.88
    order_return(order=order, consumer=consumer)
    assert fresh(wallet)[:2] == (8000, 2000)
    order.refresh_from_db()
    assert order.returned_amount == 5000
    with pytest.raises(errors.ReturnExceedsOrder):
        order_return(order=order, consumer=consumer, amount=1)


def test_a_return_across_two_wallets_gives_each_back_what_it_gave(store, consumer):
    sooner = campaign_purchase(campaign=campaign_in(store, valid_days=10), consumer=consumer)
    later = campaign_purchase(campaign=campaign_in(store, valid_days=60, pay=10000, credit=11000), consumer=consumer)
    order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=15000)
    assert taken(order) == {sooner.pk: (8000, 2000), later.pk: (4545, 455)}

    order_return(order=order, consumer=consumer)

    assert fresh(sooner)[:2] == (8000, 2000) and fresh(later)[:2] == (10000, 1000)
    assert reconcile_findings() == []


def test_a_return_to_a_withdrawn_wallet_refunds_the_principal_part_and_lapses_the_bonus(store, consumer, staff):
    wallet = campaign_purchase(campaign=campaign_in(store, valid_days=30), consumer=consumer)
    order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=2500)
    request = withdrawals.withdrawal_request(wallet=wallet, actor=consumer.user)
    withdrawals.withdrawal_refund(request=request, actor=staff)

    order_return(order=order, consumer=consumer, amount=1000)
    order_return(order=order, consumer=consumer)

    assert fresh(wallet) == (0, 0, "closed")
    assert [(r.kind, r.amount) for r in Refund.objects.order_by("pk")] == [
        ("withdrawal", 6000), ("return", 800), ("return", 1200),
    ]
    assert refunded_to_payments(wallet) == 8000
    lapsed = LedgerEntry.objects.filter(wallet=wallet, kind="bonus_lapse", order=order)
    assert sum(e.bonus_delta for e in lapsed) == -500
    assert reconcile_findings() == []


def test_a_return_to_an_expired_wallet_refunds_the_principal_part_at_once(store, consumer):
    wallet = campaign_purchase(campaign=campaign_in(store, valid_days=3), consumer=consumer)
    order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=1000)
    after_expiry = timezone.now() + 4 * DAY

    order_return(order=order, consumer=consumer, now=after_expiry)  # the sweep has not closed it yet

    assert fresh(wallet)[:2] == (7200, 1800)  # the wallet itself does not grow
    assert [(r.kind, r.amount) for r in Refund.objects.all()] == [("return", 800)]
    assert withdrawals.wallet_expire_due(now=after_expiry) == 1
    assert fresh(wallet) == (0, 0, "closed")
    assert refunded_to_payments(wallet) == 8000
    assert reconcile_findings() == []


def test_someone_elses_order_cannot_be_returned(store, consumer):
    campaign_purchase(campaign=campaign_in(store, valid_days=30), consumer=consumer)
    order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=1000)
    with pytest.raises(errors.NotFound):
        order_return(order=order, consumer=ConsumerFactory())


def test_rounding_never_refunds_more_than_was_paid(store, consumer, staff):
    # Two 0.01 spends round differently (0.00 then 0.01 of principal); returning the first into the open
    # wallet puts the rounding back as principal. The refund then returns all 80.00 paid, so the second
    # order's 0.01 of principal must lapse rather than refund 80.01 (found by the property test).
    wallet = campaign_purchase(campaign=campaign_in(store, valid_days=30), consumer=consumer)
    first = order_spend(consumer=consumer, store=store, order_ref="A1", amount=1)
    second = order_spend(consumer=consumer, store=store, order_ref="A2", amount=1)
    assert (taken(first), taken(second)) == ({wallet.pk: (0, 1)}, {wallet.pk: (1, 0)})
    order_return(order=first, consumer=consumer)
    request = withdrawals.withdrawal_request(wallet=wallet, actor=consumer.user)
    withdrawals.withdrawal_refund(request=request, actor=staff)

    order_return(order=second, consumer=consumer)

    assert refunded_to_payments(wallet) == 8000
    assert Refund.objects.filter(kind="return").count() == 0
    assert reconcile_findings() == []


def test_buying_a_withdrawn_campaign_again_opens_a_new_unconsumed_wallet(store, consumer, staff):
    campaign = campaign_in(store, valid_days=30, per_consumer_limit=2)
    first = wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    old_order = order_spend(consumer=consumer, store=store, order_ref="A1", amount=5000)
    request = withdrawals.withdrawal_request(wallet=wallet, actor=consumer.user)
    withdrawals.withdrawal_refund(request=request, actor=staff)  # 40.00 refunded, 10.00 bonus lapsed

    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    assert wallet.pk != first.pk and Wallet.objects.get(pk=first.pk).status == "closed"
    assert (wallet.principal, wallet.bonus, wallet.consumed) == (8000, 2000, False)
    # The old order's money belongs to the closed life: principal refunded, bonus lapses, wallet unchanged.
    order_return(order=old_order, consumer=consumer)

    assert fresh(wallet) == (8000, 2000, "active")
    assert [(r.kind, r.amount) for r in Refund.objects.order_by("pk")] == [("withdrawal", 4000), ("return", 4000)]
    preview = withdrawals.withdrawal_preview(wallet=wallet)
    assert (preview.principal, preview.instant) == (8000, True)
    withdrawals.withdrawal_request(wallet=wallet, actor=consumer.user)
    assert refunded_to_payments(first) == refunded_to_payments(wallet) == 8000
    assert Wallet.objects.get(pk=wallet.pk).status == "closed"
    assert reconcile_findings() == []
