"""SPEC §3: principal = ceil(total × paid / credited), bonus = total − principal — every row of the table."""
import pytest

from core import errors
from allowance.models import LedgerEntry
from allowance.services import campaign_purchase, order_spend
from tests.factories import CampaignFactory, ConsumerFactory

pytestmark = pytest.mark.django_db


def spend(wallet, amount, ref="o"):
    return order_spend(consumer=wallet.consumer, store=wallet.store, order_ref=ref, amount=amount)


def balances(wallet):
    wallet.refresh_from_db()
    return wallet.principal, wallet.bonus


@pytest.mark.parametrize(
    "pay, credit, buys, spent, principal, bonus",
    [
        (8000, 10000, 1, 0, 8000, 2000),  # pay 80 get 100, bought → 80.00 / 20.00
        (8000, 10000, 1, 1000, 7200, 1800),  # spent 10.00 → 72.00 / 18.00
        (10000, 11000, 1, 1100, 9000, 900),  # pay 100 get 110, spent 11.00 → 90.00 / 9.00
        (8000, 10000, 1, 1, 8000, 1999),  # spent 0.01 → 80.00 / 19.99
        (8000, 10000, 2, 1000, 15200, 3800),  # bought twice, spent 10.00 → 152.00 / 38.00
    ],
    ids=["bought", "spent-10", "pay100-get110-spent-11", "spent-0.01", "bought-twice-spent-10"],
)
def test_split_follows_the_spec_table(pay, credit, buys, spent, principal, bonus):
    campaign = CampaignFactory(pay_amount=pay, credit_amount=credit, per_consumer_limit=2)
    consumer = ConsumerFactory()
    for _ in range(buys):
        wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    if spent:
        spend(wallet, spent)
    assert balances(wallet) == (principal, bonus)


def test_many_small_spends_do_not_drift_from_the_rule(campaign, consumer):
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    for i in range(200):
        spend(wallet, 5, ref=f"o{i}")
    # 100.00 − 10.00 = 90.00 → principal ceil(9000 × 0.8) = 7200, exactly as one spend of 10.00 gives
    assert balances(wallet) == (7200, 1800)


def test_ledger_entries_sum_to_the_balances(campaign, consumer):
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    spend(wallet, 1234)
    entries = LedgerEntry.objects.filter(wallet=wallet)
    principal, bonus = balances(wallet)
    assert (sum(e.principal_delta for e in entries), sum(e.bonus_delta for e in entries)) == (principal, bonus)
    assert [e.kind for e in entries.order_by("id")] == ["top_up", "spend"]


def test_spending_more_than_available_charges_nothing_and_says_what_is_available(campaign, consumer):
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    with pytest.raises(errors.InsufficientAllowance, match="100.00"):
        spend(wallet, 10001)
    assert balances(wallet) == (8000, 2000)


@pytest.mark.parametrize(
    "spent, returned, principal, bonus",
    [
        (1000, 1000, 8000, 2000),  # spent 10.00, returned whole → back to 80.00 / 20.00
        (1000, 500, 7600, 1900),  # spent 10.00, returned 5.00 → total 95.00 → 76.00 / 19.00
        (1, 1, 8000, 2000),  # spent 0.01, returned → 80.00 / 20.00
        (3333, 1111, 6223, 1555),  # total 77.78 → principal ceil(62.224) = 62.23
    ],
    ids=["return-whole", "return-half", "return-0.01", "return-awkward"],
)
def test_a_return_puts_the_split_where_the_rule_says(campaign, consumer, spent, returned, principal, bonus):
    from refunds.returns import order_return

    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    order = spend(wallet, spent)
    order_return(order=order, consumer=consumer, amount=returned)
    assert balances(wallet) == (principal, bonus)


def test_many_one_fen_spends_and_returns_land_where_the_rule_says(campaign, consumer):
    from refunds.returns import order_return

    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    for i in range(101):
        order = spend(wallet, 1, ref=f"o{i}")
        if i % 2:
            order_return(order=order, consumer=consumer)
    # 51 fen spent net: total 99.49 → principal ceil(79.592) = 79.60, bonus 19.89
    assert balances(wallet) == (7960, 1989)
