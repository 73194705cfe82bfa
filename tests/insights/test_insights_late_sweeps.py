"""Issue 19.3: a sweep that outlives the roll-up never costs the insights a count. The beat keeps everything up to
the last minute; whatever a sweep resolves later must be stamped after the mark, not with the sweep's start."""
from datetime import timedelta

import pytest
from django.utils import timezone

from allowance.models import Payment
from allowance.services import campaign_purchase, order_spend
from refunds import services
from refunds.insights import insights_for_campaigns, insights_rollup_all
from refunds.models import InsightsRollup, WithdrawalRequest
from tests.factories import CampaignFactory, ConsumerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def figures(campaign, *, since, now):
    insights = insights_for_campaigns(campaigns=[campaign], start=timezone.localdate(since) - timedelta(days=1),
                                      end=timezone.localdate(now), now=now)
    return insights.campaigns[0].figures


def sold_long_ago(campaign, consumers, when):
    """Each consumer buys the campaign at `when` (the payment is stamped then, as it would have been)."""
    wallets = [campaign_purchase(campaign=campaign, consumer=c, now=when) for c in consumers]
    Payment.objects.filter(campaign=campaign).update(created_at=when)
    return wallets


def test_an_expiry_sweep_that_started_three_hours_ago_still_counts_its_expiries():
    # Given three "pay 80 get 100" wallets bought two days ago, whose validity ended four hours ago
    now = timezone.now()
    campaign = CampaignFactory(starts_at=now - timedelta(days=3), ends_at=now - timedelta(hours=5),
                               valid_until=now - timedelta(hours=4))
    sold_long_ago(campaign, [ConsumerFactory() for _ in range(3)], now - timedelta(days=2))
    # and the insights rolled up to the last settled hour by the beat
    insights_rollup_all(now=now)
    assert InsightsRollup.objects.get(campaign=campaign).through > now - timedelta(hours=2)
    # When an expiry sweep that started three hours ago (a long run) resolves them only now
    assert services.wallet_expire_due(now=now - timedelta(hours=3)) == 3
    # Then the insights count the three expiries and their 240.00, now and once those hours are rolled up
    for read_at in (timezone.now(), timezone.now() + timedelta(hours=2)):
        f = figures(campaign, since=now - timedelta(days=2), now=read_at)
        assert (f.withdrawals["expiry"], f.expired_principal) == (3, 24000), read_at
    # and the resolutions are stamped when they were written, not when the sweep started
    assert not WithdrawalRequest.objects.filter(resolved_at__lt=now).exists()


@pytest.mark.parametrize("sweep", ["due", "expiry"])
def test_a_sweep_across_an_hour_boundary_loses_no_count_to_the_roll_up(sweep, monkeypatch):
    # Given three wallets of one campaign, bought days ago, that a sweep will resolve: three withdrawals whose
    # hold has ended, or three wallets whose validity has ended
    real = timezone.now()
    boundary = timezone.localtime(real).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    start = boundary - timedelta(minutes=10)  # the sweep starts ten minutes before an hour ends
    if sweep == "due":
        campaign = CampaignFactory(starts_at=real - timedelta(days=5))
        wallets = sold_long_ago(campaign, [ConsumerFactory() for _ in range(3)], real - timedelta(days=4))
        for wallet in wallets:
            order_spend(consumer=wallet.consumer, store=campaign.store, order_ref=f"o{wallet.pk}", amount=1000,
                        now=start - timedelta(days=3))
            services.withdrawal_request(wallet=wallet, actor=wallet.consumer.user, now=start - timedelta(days=3))
        run, outcome, principal = services.withdrawal_refund_due, "auto", "withdrawn_principal"
    else:
        campaign = CampaignFactory(starts_at=real - timedelta(days=5), ends_at=start - timedelta(hours=2),
                                   valid_until=start - timedelta(hours=1))
        sold_long_ago(campaign, [ConsumerFactory() for _ in range(3)], real - timedelta(days=4))
        run, outcome, principal = services.wallet_expire_due, "expiry", "expired_principal"
    expected = 3 * (7200 if sweep == "due" else 8000)
    clock = [start]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    # When the sweep resolves its first batch before the hour ends,
    assert run(now=start, batch_size=1, max_batches=1) == 1
    # the beat rolls that hour (and 19 minutes of the next) up 20 minutes after it ended,
    clock[0] = boundary + timedelta(minutes=20)
    insights_rollup_all(now=clock[0])
    assert InsightsRollup.objects.get(campaign=campaign).through == boundary + timedelta(minutes=19)
    # and the same sweep (the same start time) goes on with its other batches after that
    assert run(now=start, batch_size=1) == 2
    # Then, read later, the insights count all three resolutions and their principal
    clock[0] = real
    f = figures(campaign, since=start - timedelta(days=5), now=real)
    assert (f.withdrawals[outcome], getattr(f, principal)) == (3, expected)
    later = real + timedelta(hours=3)
    clock[0] = later
    f = figures(campaign, since=start - timedelta(days=5), now=later)
    assert (f.withdrawals[outcome], getattr(f, principal)) == (3, expected)
