"""A store with a season of allowance: every way a wallet can go, made through the product's own services."""
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from allowance.models import Campaign
from allowance.services import campaign_purchase, order_spend
from refunds.returns import order_return
from refunds import services
from tests.factories import CampaignFactory, ConsumerFactory, StaffFactory


@dataclass
class Season:
    store: object
    staff: object
    long: Campaign      # pay 80 get 100, valid a year
    short: Campaign     # pay 100 get 110, valid 5 more days (expiring within 7)
    expired: Campaign   # pay 50 get 60, valid until a moment ago: closed by the expiry job
    other_staff: object
    other_campaign: Campaign
    consumers: dict


@pytest.fixture
def season(db, settings):
    settings.WITHDRAWAL_HOLD_SECONDS = 1
    now = timezone.now()
    long = CampaignFactory(name="pay 80 get 100")
    store = long.store
    short = CampaignFactory(store=store, name="pay 100 get 110", pay_amount=10000, credit_amount=11000,
                            ends_at=now + timedelta(days=2), valid_until=now + timedelta(days=5))
    other_campaign = CampaignFactory(name="someone else's")
    # A sale that ends (and expires) moments from now: bought at once, before the rest of the season is made, so
    # a slow machine cannot close the sale before the purchase; the expiry job closes it below.
    expired = CampaignFactory(store=store, name="pay 50 get 60", pay_amount=5000, credit_amount=6000,
                              starts_at=now - timedelta(days=1), ends_at=now + timedelta(seconds=5),
                              valid_until=now + timedelta(seconds=5))
    staff = StaffFactory(store=store).user
    other_staff = StaffFactory(store=other_campaign.store).user
    c = {name: ConsumerFactory(account_name=name) for name in (
        "instant", "merchant", "retained", "cancelled", "auto", "short", "twice", "asked_then_refunded", "expiring",
        "outsider")}

    def buy(name, campaign):
        return campaign_purchase(campaign=campaign, consumer=c[name])

    def spend(name, amount, ref):
        return order_spend(consumer=c[name], store=store, order_ref=ref, amount=amount)

    buy("expiring", expired)
    # Never spent, withdrawn at once.
    services.withdrawal_request(wallet=buy("instant", long), actor=c["instant"].user)
    # Spent, withdrawn, refunded by the merchant.
    w = buy("merchant", long)
    spend("merchant", 1000, "m1")
    r = services.withdrawal_request(wallet=w.pk, actor=c["merchant"].user)
    services.withdrawal_refund(request=r, actor=staff)
    # Spent, withdrawn, asked to stay, kept it.
    w = buy("retained", long)
    spend("retained", 2000, "r1")
    r = services.withdrawal_request(wallet=w.pk, actor=c["retained"].user)
    services.withdrawal_retention_message(request=r, actor=staff, message="Keep it: a gift next time")
    services.withdrawal_cancel(request=r, actor=c["retained"].user)
    # Spent, withdrawn, changed their mind.
    w = buy("cancelled", long)
    spend("cancelled", 500, "c1")
    r = services.withdrawal_request(wallet=w.pk, actor=c["cancelled"].user)
    services.withdrawal_cancel(request=r, actor=c["cancelled"].user)
    # Spent, withdrawn, asked to stay, refunded by the merchant all the same.
    w = buy("asked_then_refunded", long)
    spend("asked_then_refunded", 300, "a1")
    r = services.withdrawal_request(wallet=w.pk, actor=c["asked_then_refunded"].user)
    services.withdrawal_retention_message(request=r, actor=staff, message="Please stay")
    services.withdrawal_refund(request=r, actor=staff)
    # Spent, withdrawn, refunded by the job once the (1 s) hold ended.
    w = buy("auto", long)
    spend("auto", 1000, "u1")
    services.withdrawal_request(wallet=w.pk, actor=c["auto"].user)
    # Bought the short one, spent some, returned part of it.
    buy("short", short)
    order = spend("short", 500, "s1")
    order_return(order=order, consumer=c["short"], amount=200)
    # Bought twice, spent across.
    buy("twice", long)
    buy("twice", long)
    spend("twice", 3000, "t1")
    # Another store's sale: never in these figures.
    campaign_purchase(campaign=other_campaign, consumer=c["outsider"])

    later = max(timezone.now(), now + timedelta(seconds=5)) + timedelta(seconds=1)
    assert services.withdrawal_refund_due(now=later) == 1
    assert services.wallet_expire_due(now=later) == 1
    return Season(store=store, staff=staff, long=long, short=short, expired=expired, other_staff=other_staff,
                  other_campaign=other_campaign, consumers=c)
