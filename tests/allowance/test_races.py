"""Concurrency on PostgreSQL with real threads, each on its own connection: checkout and purchase limits hold."""
import pytest

from allowance.management.commands.reconcile import reconcile_findings
from allowance.models import LedgerEntry, Order, Payment, Wallet
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


def test_a_flash_sale_sells_exactly_the_stock_and_no_buyer_beyond_their_limit():
    # given: stock 5, a limit of 2 per buyer, and 4 buyers who each try 3 times at the same instant
    campaign = CampaignFactory(stock=5, per_consumer_limit=2)
    buyers = [ConsumerFactory() for _ in range(4)]

    results = run_together(*[(lambda c=c: campaign_purchase(campaign=campaign, consumer=c)) for c in buyers * 3])

    # then: exactly the stock is sold; everybody else got a clear refusal, nobody an unexpected error
    wallets, raised = outcomes(results)
    assert len(wallets) == 5
    assert set(raised) <= {"OutOfStock", "PurchaseLimitReached"} and len(raised) == 7
    campaign.refresh_from_db()
    assert (campaign.sold_count, Payment.objects.count()) == (5, 5)
    # and: no buyer has more than 2 purchases, each holds one open wallet with exactly what they paid for
    for buyer in buyers:
        bought = Payment.objects.filter(consumer=buyer).count()
        assert bought <= 2
        held = list(Wallet.objects.filter(consumer=buyer))
        assert len(held) == (1 if bought else 0)
        if bought:
            assert (held[0].paid, held[0].credited) == (8000 * bought, 10000 * bought)
    assert reconcile_findings() == []


def test_one_buyer_racing_many_times_while_others_buy_gets_exactly_their_limit():
    # given: plenty of stock, a limit of 3, one buyer asking 8 times while 4 others buy once, all at once
    campaign = CampaignFactory(stock=100, per_consumer_limit=3)
    eager = ConsumerFactory()
    others = [ConsumerFactory() for _ in range(4)]

    results = run_together(*[(lambda: campaign_purchase(campaign=campaign, consumer=eager))] * 8,
                           *[(lambda c=c: campaign_purchase(campaign=campaign, consumer=c)) for c in others])

    # then: the eager buyer bought exactly 3 times into one wallet, the others once each, and the count agrees
    wallets, raised = outcomes(results)
    assert raised == ["PurchaseLimitReached"] * 5
    assert len(wallets) == 7
    wallet = Wallet.objects.get(consumer=eager)
    assert (wallet.paid, wallet.principal + wallet.bonus) == (24000, 30000)
    assert Payment.objects.filter(consumer=eager).count() == 3
    campaign.refresh_from_db()
    assert campaign.sold_count == Payment.objects.count() == 7
    assert reconcile_findings() == []


def test_buyers_past_the_last_unit_change_nothing():
    # given: one unit left and six buyers at the same instant
    campaign = CampaignFactory(stock=1)
    buyers = [ConsumerFactory() for _ in range(6)]

    results = run_together(*[(lambda c=c: campaign_purchase(campaign=campaign, consumer=c)) for c in buyers])

    # then: one sale; the five refused left no wallet, payment or ledger entry behind
    wallets, raised = outcomes(results)
    assert len(wallets) == 1 and raised == ["OutOfStock"] * 5
    assert (Wallet.objects.count(), Payment.objects.count(), LedgerEntry.objects.count()) == (1, 1, 1)
    assert reconcile_findings() == []
