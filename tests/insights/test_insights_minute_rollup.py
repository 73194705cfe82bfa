"""Issue 22: the beat keeps the insights up to the last minute, so a page view reads only a minute or two live
whatever happened in the current hour — and still counts every row once, however late its transaction commits."""
import random
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from allowance.services import campaign_purchase, order_spend
from refunds import services
from refunds.insights import insights_for_campaigns, insights_rollup_all
from refunds.models import InsightsHour, InsightsRollup
from tests.factories import CampaignFactory, ConsumerFactory


def _figures(campaigns, *, now):
    day = timezone.localdate(now)
    insights = insights_for_campaigns(campaigns=campaigns, start=day - timedelta(days=3), end=day, now=now)

    def one(f):
        return (f.sold_count, f.sold_principal, f.sold_bonus, f.spent, f.outstanding_principal, f.outstanding_bonus,
                f.withdrawals, f.withdrawn_principal, f.expired_principal, f.median_refund_seconds)

    return ([one(row.figures) for row in insights.campaigns], one(insights.total),
            [(d.day, d.sold, d.spent, d.withdrawn, d.expired) for d in insights.days])


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_beat_keeps_every_minute_but_the_last_so_a_page_reads_almost_nothing_live(settings, monkeypatch):
    # Given a campaign whose purchases, spends and withdrawals all happened in the last ten minutes
    settings.WITHDRAWAL_HOLD_SECONDS = 60
    now = timezone.localtime(timezone.now()).replace(second=30, microsecond=0)
    clock = [now - timedelta(minutes=10)]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    campaign = CampaignFactory(starts_at=now - timedelta(days=1))
    wallets = [campaign_purchase(campaign=campaign, consumer=ConsumerFactory()) for _ in range(4)]
    clock[0] += timedelta(minutes=2)
    order_spend(consumer=wallets[0].consumer, store=campaign.store, order_ref="o1", amount=1500)
    services.withdrawal_request(wallet=wallets[0], actor=wallets[0].consumer.user)  # held
    services.withdrawal_request(wallet=wallets[1], actor=wallets[1].consumer.user)  # instant
    clock[0] += timedelta(minutes=3)
    assert services.withdrawal_refund_due() == 1
    clock[0] = now
    live = _figures([campaign], now=now)
    # When the beat rolls up at `now`
    insights_rollup_all(now=now)
    # Then every minute before the last is kept (this hour included) and the figures read back the same
    mark = InsightsRollup.objects.get(campaign=campaign)
    assert mark.through == now.replace(second=0) - timedelta(minutes=1)
    assert InsightsHour.objects.filter(campaign=campaign).exists()
    assert _figures([campaign], now=now) == live
    # and a purchase after that is read live on top of the kept minutes, then kept by the next roll-up
    clock[0] = now + timedelta(seconds=10)
    campaign_purchase(campaign=campaign, consumer=ConsumerFactory())
    clock[0] = now + timedelta(minutes=3)
    after = _figures([campaign], now=clock[0])
    assert after[1][0] == live[1][0] + 1
    insights_rollup_all(now=clock[0])
    assert _figures([campaign], now=clock[0]) == after


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_minute_by_minute_or_all_at_once_the_figures_are_the_same(seed, settings, monkeypatch):
    # Given two campaigns and three hours of purchases, spends, withdrawals and sweeps at random moments, with the
    # beat rolling one store's insights up at random minutes in between (across hour boundaries)
    rng = random.Random(seed)
    settings.WITHDRAWAL_HOLD_SECONDS = 600
    start = timezone.localtime(timezone.now()).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    clock = [start]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    one = CampaignFactory(starts_at=start - timedelta(days=1))
    two = CampaignFactory(starts_at=start - timedelta(days=1), store=one.store)
    consumers = [ConsumerFactory() for _ in range(12)]
    wallets, orders = [], 0
    while clock[0] < start + timedelta(hours=3):
        clock[0] += timedelta(seconds=rng.randrange(1, 900))
        op = rng.random()
        if op < 0.3:
            campaign, consumer = rng.choice([one, two]), rng.choice(consumers)
            try:
                wallets.append(campaign_purchase(campaign=campaign, consumer=consumer))
            except Exception:  # noqa: BLE001 — the per-consumer limit or a frozen wallet: nothing happened
                pass
        elif op < 0.5 and wallets:
            wallet = rng.choice(wallets)
            orders += 1
            try:
                order_spend(consumer=wallet.consumer, store=one.store, order_ref=f"o{orders}", amount=rng.randrange(1, 3000))
            except Exception:  # noqa: BLE001 — not enough left
                pass
        elif op < 0.65 and wallets:
            wallet = rng.choice(wallets)
            try:
                services.withdrawal_request(wallet=wallet.pk, actor=wallet.consumer.user)
            except Exception:  # noqa: BLE001 — closed or frozen already
                pass
        elif op < 0.8:
            services.withdrawal_refund_due()
        else:
            insights_rollup_all(now=clock[0])
    end = clock[0] + timedelta(minutes=rng.randrange(0, 90))
    clock[0] = end
    # When the figures are read from the minutes kept on the way, and again from one roll-up of everything
    incremental = _figures([one, two], now=end)
    InsightsHour.objects.all().delete()
    InsightsRollup.objects.all().delete()
    at_once = _figures([one, two], now=end)
    # Then they are the same
    assert incremental == at_once
    assert incremental[1][0] > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_purchase_that_commits_after_the_beat_passed_its_minute_is_still_counted_once():
    # Given a purchase written (and stamped) on another connection whose transaction stays open
    campaign = CampaignFactory()
    written, release, failed = threading.Event(), threading.Event(), []

    def buyer():
        try:
            with transaction.atomic():
                campaign_purchase(campaign=campaign, consumer=ConsumerFactory())
                written.set()
                assert release.wait(30)
        except Exception as exc:  # noqa: BLE001 — reported below
            failed.append(exc)
            written.set()
        finally:
            connection.close()

    thread = threading.Thread(target=buyer)
    thread.start()
    assert written.wait(30)
    # When the beat rolls up three minutes later by its clock, while that transaction is still open,
    later = timezone.now() + timedelta(minutes=3)
    insights_rollup_all(now=later)
    # it keeps nothing the open transaction could still write into
    mark = InsightsRollup.objects.get(campaign=campaign)
    assert mark.through is None or mark.through <= timezone.now() - timedelta(minutes=1)
    release.set()
    thread.join(30)
    assert not failed
    # Then the purchase, committed after that roll-up, is counted — read live and after each later roll-up, once
    for minutes in (0, 2, 70):
        insights_rollup_all(now=later + timedelta(minutes=minutes))
        figures = _figures([campaign], now=later + timedelta(minutes=minutes))
        assert figures[1][:3] == (1, 8000, 2000), minutes
