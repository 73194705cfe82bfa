"""Concurrency on PostgreSQL with real threads, each on its own connection: checkout and purchase limits hold."""
import pytest

from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import Order, Payment, Wallet
from allowance.services import campaign_purchase, order_spend
from tests.allowance.threads import outcomes, run_together
from tests.factories import CampaignFactory, ConsumerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_concurrent_spends_of_ten_on_a_hundred_exactly_ten_succeed():
    campaign = CampaignFactory()
    consumer = ConsumerFactory()
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)

    results = run_together(*[
        (lambda i=i: order_spend(consumer=consumer, store=campaign.store, order_ref=f"race-{i}", amount=1000))
        for i in range(20)
    ])

    orders, raised = outcomes(results)
    assert len(orders) == 10
    assert raised == ["InsufficientAllowance"] * 10
    wallet.refresh_from_db()
    assert (wallet.principal, wallet.bonus) == (0, 0)
    assert Order.objects.count() == 10
    assert reconcile_findings() == []


def test_two_concurrent_buys_at_the_per_consumer_limit_sell_one():
    campaign = CampaignFactory(per_consumer_limit=1)
    consumer = ConsumerFactory()

    results = run_together(*[lambda: campaign_purchase(campaign=campaign, consumer=consumer)] * 2)

    wallets, raised = outcomes(results)
    assert len(wallets) == 1 and raised == ["PurchaseLimitReached"]
    wallet = Wallet.objects.get()
    assert (wallet.principal, wallet.bonus, wallet.paid) == (8000, 2000, 8000)
    assert Payment.objects.count() == 1
    assert reconcile_findings() == []


def test_concurrent_buyers_never_exceed_the_stock():
    campaign = CampaignFactory(stock=3)
    consumers = [ConsumerFactory() for _ in range(6)]

    results = run_together(*[(lambda c=c: campaign_purchase(campaign=campaign, consumer=c)) for c in consumers])

    wallets, raised = outcomes(results)
    assert len(wallets) == 3 and raised == ["OutOfStock"] * 3
    campaign.refresh_from_db()
    assert (campaign.sold_count, Payment.objects.count()) == (3, 3)
