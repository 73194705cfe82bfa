"""Small builders for page tests: a consumer with a bought (and optionally spent) wallet."""
from allowance.services import campaign_purchase, order_spend
from refunds.services import withdrawal_request


def bought_wallet(*, consumer, campaign, spend: int = 0):
    wallet = campaign_purchase(campaign=campaign, consumer=consumer)
    if spend:
        order_spend(consumer=consumer, store=campaign.store, order_ref=f"o-{consumer.pk}-{wallet.pk}", amount=spend)
        wallet.refresh_from_db()
    return wallet


def pending_request(*, consumer, campaign, spend: int = 1000):
    wallet = bought_wallet(consumer=consumer, campaign=campaign, spend=spend)
    return withdrawal_request(wallet=wallet, actor=consumer.user)
