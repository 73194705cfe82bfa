"""SPEC §4: instant and held withdrawals, cancel, retention, merchant refund, the sweep and expiry."""
from datetime import timedelta

import pytest
from django.utils import timezone

from core import errors
from allowance.models import LedgerEntry, Wallet
from allowance.services import campaign_purchase, order_spend
from refunds.returns import order_return
from refunds import services
from refunds.models import Refund, WithdrawalRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet(campaign, consumer):
    return campaign_purchase(campaign=campaign, consumer=consumer)


@pytest.fixture
def spent_wallet(wallet):
    order_spend(consumer=wallet.consumer, store=wallet.store, order_ref="o1", amount=1000)
    wallet.refresh_from_db()
    return wallet


def test_unspent_wallet_is_refunded_at_once(wallet, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user)
    wallet.refresh_from_db()
    assert (request.status, request.resolution, request.principal, request.bonus_lapsed) == ("refunded", "instant", 8000, 2000)
    assert (wallet.status, wallet.principal, wallet.bonus) == ("closed", 0, 0)
    refund = request.refund
    refund.refresh_from_db()
    assert (refund.amount, refund.payout_status) == (8000, "succeeded")
    assert sorted(LedgerEntry.objects.filter(wallet=wallet).values_list("kind", flat=True)) == [
        "bonus_lapse", "top_up", "withdrawal_refund",
    ]


def test_spent_wallet_is_held_and_frozen(spent_wallet):
    preview = services.withdrawal_preview(wallet=spent_wallet)
    assert (preview.principal, preview.bonus_lapsed, preview.instant) == (7200, 1800, False)
    request = services.withdrawal_request(wallet=spent_wallet, actor=spent_wallet.consumer.user)
    spent_wallet.refresh_from_db()
    assert request.status == "pending" and spent_wallet.status == "frozen"
    with pytest.raises(errors.InsufficientAllowance):
        order_spend(consumer=spent_wallet.consumer, store=spent_wallet.store, order_ref="o2", amount=100)
    with pytest.raises(errors.RequestAlreadyOpen):
        services.withdrawal_request(wallet=spent_wallet, actor=spent_wallet.consumer.user)


def test_cancel_reactivates_and_retention_makes_it_retained(spent_wallet, staff):
    user = spent_wallet.consumer.user
    first = services.withdrawal_request(wallet=spent_wallet, actor=user)
    assert services.withdrawal_cancel(request=first, actor=user).status == "cancelled"
    second = services.withdrawal_request(wallet=spent_wallet, actor=user)
    services.withdrawal_retention_message(request=second, actor=staff, message="Please stay: 10% off next week")
    assert services.withdrawal_cancel(request=second, actor=user).status == "retained"
    spent_wallet.refresh_from_db()
    assert spent_wallet.status == "active"


def test_merchant_refund_now_and_the_sweep(spent_wallet, staff):
    request = services.withdrawal_request(wallet=spent_wallet, actor=spent_wallet.consumer.user)
    services.withdrawal_refund(request=request, actor=staff)
    request.refresh_from_db()
    assert (request.status, request.resolution, request.refund.amount) == ("refunded", "merchant", 7200)
    assert services.withdrawal_refund_due(now=timezone.now() + timedelta(days=3)) == 0


def test_sweep_refunds_due_requests_once(spent_wallet):
    request = services.withdrawal_request(wallet=spent_wallet, actor=spent_wallet.consumer.user)
    assert services.withdrawal_refund_due() == 0
    later = timezone.now() + timedelta(hours=49)
    assert services.withdrawal_refund_due(now=later) == 1
    assert services.withdrawal_refund_due(now=later) == 0
    request.refresh_from_db()
    assert (request.status, request.resolution) == ("refunded", "auto")
    assert Refund.objects.count() == 1


def test_expiry_refunds_principal_and_ends_a_pending_request(spent_wallet):
    request = services.withdrawal_request(wallet=spent_wallet, actor=spent_wallet.consumer.user)
    assert services.wallet_expire_due(now=spent_wallet.valid_until + timedelta(seconds=1)) == 1
    request.refresh_from_db()
    assert (request.status, request.resolution, request.principal) == ("refunded", "expiry", 7200)


def test_return_to_closed_wallet_refunds_principal_and_lapses_bonus(spent_wallet, staff):
    request = services.withdrawal_request(wallet=spent_wallet, actor=spent_wallet.consumer.user)
    services.withdrawal_refund(request=request, actor=staff)
    order = spent_wallet.allocations.get().order
    order_return(order=order, consumer=spent_wallet.consumer)
    refunds = Refund.objects.order_by("id")
    assert [(r.kind, r.amount) for r in refunds] == [("withdrawal", 7200), ("return", 800)]
    assert sum(p.refunded_amount for p in spent_wallet.payments.all()) == 8000
    spent_wallet.refresh_from_db()
    assert (spent_wallet.principal, spent_wallet.bonus, spent_wallet.status) == (0, 0, Wallet.Status.CLOSED)


def test_whole_return_to_open_wallet_restores_it(spent_wallet):
    order = spent_wallet.allocations.get().order
    order_return(order=order, consumer=spent_wallet.consumer, amount=400)
    spent_wallet.refresh_from_db()
    assert (spent_wallet.principal, spent_wallet.bonus) == (7520, 1880)
    order_return(order=order, consumer=spent_wallet.consumer)
    spent_wallet.refresh_from_db()
    assert (spent_wallet.principal, spent_wallet.bonus, spent_wallet.consumed) == (8000, 2000, False)
    assert WithdrawalRequest.objects.count() == 0


# --- the amount the consumer confirmed (issue 19) ----------------------------------------------------------


@pytest.fixture
def previewed(wallet):
    """Pay 80 get 100, 40.50 spent: the preview says "withdraw 47.60 and let 11.90 lapse"."""
    order_spend(consumer=wallet.consumer, store=wallet.store, order_ref="o1", amount=4050)
    wallet.refresh_from_db()
    preview = services.withdrawal_preview(wallet=wallet)
    assert (preview.principal, preview.bonus_lapsed) == (4760, 1190)
    return wallet


def test_a_withdrawal_confirmed_at_a_principal_that_has_changed_is_refused_with_the_new_figures(previewed):
    # Given an order of 7.00 paid after the consumer saw the preview (now 42.00 and 10.50)
    order_spend(consumer=previewed.consumer, store=previewed.store, order_ref="o2", amount=700)
    entries = LedgerEntry.objects.count()

    # When the consumer confirms the 47.60 they saw
    with pytest.raises(errors.WithdrawalAmountChanged) as refused:
        services.withdrawal_request(wallet=previewed, actor=previewed.consumer.user, seen_principal=4760)

    # Then it is a 409 naming the new figures, and nothing moved: no request, the wallet still open and usable
    assert refused.value.status_code == 409
    assert refused.value.data == {"principal": "42.00", "bonus_lapsed": "10.50"}
    assert "42.00" in str(refused.value) and "10.50" in str(refused.value)
    previewed.refresh_from_db()
    assert (previewed.status, previewed.principal, previewed.bonus) == ("active", 4200, 1050)
    assert not WithdrawalRequest.objects.exists() and LedgerEntry.objects.count() == entries


def test_a_withdrawal_confirmed_at_the_current_principal_goes_ahead(previewed):
    order_spend(consumer=previewed.consumer, store=previewed.store, order_ref="o2", amount=700)
    request = services.withdrawal_request(wallet=previewed, actor=previewed.consumer.user, seen_principal=4200)
    assert (request.status, request.principal, request.bonus_lapsed) == ("pending", 4200, 1050)


def test_an_unspent_wallet_confirmed_at_a_stale_principal_is_not_refunded(wallet):
    # Given a top-up between the preview (80.00) and the confirmation: 160.00 would be refunded at once
    campaign_purchase(campaign=wallet.campaign, consumer=wallet.consumer)
    with pytest.raises(errors.WithdrawalAmountChanged):
        services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user, seen_principal=8000)
    assert not Refund.objects.exists()
    assert Wallet.objects.get(pk=wallet.pk).status == "active"
