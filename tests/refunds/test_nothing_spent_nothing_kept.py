"""SPEC §3 "Nothing spent, nothing kept" (issue 19.1): once every order that spent from a wallet has been
returned in full, balance + refunds equal the principal paid, however the returns fell around the close."""
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import Wallet
from allowance.services import campaign_purchase, order_spend
from refunds import services
from refunds.models import Refund
from refunds.returns import order_return
from tests.factories import CampaignFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def refunded(wallet) -> int:
    return Refund.objects.filter(wallet=wallet).aggregate(s=Sum("amount"))["s"] or 0


def spend_cents(consumer, store, count, prefix="c"):
    """`count` orders of 0.01 each; with "pay 80 get 100" the split makes some take bonus, some principal."""
    orders = [order_spend(consumer=consumer, store=store, order_ref=f"{prefix}{i}", amount=1) for i in range(count)]
    principal_taken = [o for o in orders if o.allocations.get().principal == 1]
    bonus_taken = [o for o in orders if o.allocations.get().bonus == 1]
    return principal_taken, bonus_taken


def withdraw_and_refund_now(wallet, staff):
    wallet.refresh_from_db()
    request = services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user)
    assert request.status == "pending"
    return services.withdrawal_refund(request=request, actor=staff, seen_principal=request.principal)


def test_returns_split_across_a_close_give_back_every_fen_paid(campaign, consumer, staff):
    # Given "pay 80 get 100" and three orders: 0.01 (the bonus takes it), 0.01 (the principal takes it), 10.00
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    store = campaign.store
    first = order_spend(consumer=consumer, store=store, order_ref="first", amount=1)
    second = order_spend(consumer=consumer, store=store, order_ref="second", amount=1)
    big = order_spend(consumer=consumer, store=store, order_ref="big", amount=1000)
    assert [(o.allocations.get().principal, o.allocations.get().bonus) for o in (first, second, big)] == [
        (0, 1), (1, 0), (800, 200)]
    # and 0.01 of the big order and all of the second returned while the wallet is open
    order_return(order=big, consumer=consumer, amount=1)
    order_return(order=second, consumer=consumer)
    wallet.refresh_from_db()
    assert (wallet.principal, wallet.bonus) == (7200, 1800)
    # and the consumer withdraws, and the merchant refunds now with 72.00
    request = withdraw_and_refund_now(wallet, staff)
    assert request.refund.amount == 7200
    # When the rest of the big order and the first order come back
    order_return(order=big, consumer=consumer)
    order_return(order=first, consumer=consumer)
    # Then nothing was consumed and the consumer has every fen of the 80.00 back
    wallet.refresh_from_db()
    assert (wallet.status, wallet.principal, wallet.bonus) == ("closed", 0, 0)
    assert refunded(wallet) == 8000
    assert reconcile_findings() == []


def test_five_hundred_cent_orders_returned_across_a_close_leave_nothing_with_the_store(campaign, consumer, staff):
    # Given "pay 80 get 100", 500 orders of 0.01 and one of 10.00
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    principal_taken, bonus_taken = spend_cents(consumer, campaign.store, 500)
    big = order_spend(consumer=consumer, store=campaign.store, order_ref="big", amount=1000)
    assert len(principal_taken) + len(bonus_taken) == 500 and bonus_taken
    # and 0.01 of the big order and every order the principal paid returned while the wallet is open
    order_return(order=big, consumer=consumer, amount=1)
    for order in principal_taken:
        order_return(order=order, consumer=consumer)
    # and the merchant refunds the withdrawal now
    withdraw_and_refund_now(wallet, staff)
    # When the rest comes back after the close
    order_return(order=big, consumer=consumer)
    for order in bonus_taken:
        order_return(order=order, consumer=consumer)
    # Then the store keeps none of the 80.00
    assert refunded(wallet) == 8000
    assert reconcile_findings() == []


def test_returns_after_an_expiry_across_two_wallets_and_two_payments_give_back_all_that_was_paid(consumer):
    # Given a wallet bought twice (two payments: 160.00 for 200.00) and a second campaign's wallet, and orders
    # that take from both
    now = timezone.now()
    soon = CampaignFactory(valid_until=now + timedelta(days=40))
    later = CampaignFactory(store=soon.store, pay_amount=3333, credit_amount=5000)
    store = soon.store
    twice = campaign_purchase(campaign=soon, consumer=consumer)
    campaign_purchase(campaign=soon, consumer=consumer)
    other = campaign_purchase(campaign=later, consumer=consumer)
    principal_taken, bonus_taken = spend_cents(consumer, store, 30)
    across = order_spend(consumer=consumer, store=store, order_ref="across", amount=20000 - 30 + 1234)
    assert {a.wallet_id for a in across.allocations.all()} == {twice.pk, other.pk}
    # and some of it returned while both wallets are open
    for order in principal_taken:
        order_return(order=order, consumer=consumer)
    order_return(order=across, consumer=consumer, amount=1234 + 7)
    # When the first wallet expires, and everything else comes back, a cent at a time for the big order
    assert services.wallet_expire_due(now=now + timedelta(days=41)) == 1
    for _ in range(50):
        order_return(order=across, consumer=consumer, amount=1, now=now + timedelta(days=41))
    order_return(order=across, consumer=consumer, now=now + timedelta(days=41))
    for order in bonus_taken:
        order_return(order=order, consumer=consumer, now=now + timedelta(days=41))
    # Then the expired wallet's payments are refunded in full, and the open one holds all it was paid
    twice.refresh_from_db()
    other.refresh_from_db()
    assert (twice.status, refunded(twice)) == ("closed", 16000)
    assert (other.status, other.principal, other.bonus, refunded(other)) == ("active", 3333, 1667, 0)
    assert reconcile_findings() == []


def test_returns_made_before_the_withdrawal_already_give_back_everything(campaign, consumer):
    # Given the same three orders, all returned while the wallet is open
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    orders = [order_spend(consumer=consumer, store=campaign.store, order_ref=ref, amount=amount)
              for ref, amount in (("first", 1), ("second", 1), ("big", 1000))]
    for order in orders:
        order_return(order=order, consumer=consumer)
    # When the consumer withdraws
    request = services.withdrawal_request(wallet=wallet, actor=consumer.user)
    # Then it is instant and refunds the whole 80.00
    assert (request.status, request.resolution, request.refund.amount) == ("refunded", "instant", 8000)
    assert Wallet.objects.get(pk=wallet.pk).status == "closed"
