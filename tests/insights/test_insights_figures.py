"""Campaign insights: every figure agrees with the ledger, the requests and the wallets it summarises."""
import statistics
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from allowance.models import LedgerEntry, Wallet
from refunds.insights import insights_for_staff
from refunds.models import WithdrawalRequest

pytestmark = pytest.mark.django_db


def _around_today():
    today = timezone.localdate()
    return today - timedelta(days=1), today + timedelta(days=1)


def _ledger(campaign, *kinds):
    entries = LedgerEntry.objects.filter(wallet__campaign=campaign)
    if kinds:
        entries = entries.filter(kind__in=kinds)
    sums = entries.aggregate(p=Sum("principal_delta"), b=Sum("bonus_delta"))
    return sums["p"] or 0, sums["b"] or 0


def test_each_campaigns_figures_match_its_ledger_entries(season):
    start, end = _around_today()
    insights = insights_for_staff(user=season.staff, start=start, end=end)
    by_campaign = {row.campaign.pk: row.figures for row in insights.campaigns}

    assert set(by_campaign) == {season.long.pk, season.short.pk, season.expired.pk}
    for campaign in (season.long, season.short, season.expired):
        f = by_campaign[campaign.pk]
        top_up = _ledger(campaign, "top_up")
        assert (f.sold_count, f.sold_principal, f.sold_bonus) == (
            LedgerEntry.objects.filter(wallet__campaign=campaign, kind="top_up").count(), *top_up)
        assert f.spent == -sum(_ledger(campaign, "spend", "spend_return"))
        assert (f.outstanding_principal, f.outstanding_bonus) == _ledger(campaign)
        assert f.withdrawn_principal == -_ledger(campaign, "withdrawal_refund")[0]
        assert f.expired_principal == -_ledger(campaign, "expiry_refund")[0]


def test_the_season_reads_as_it_happened(season):
    start, end = _around_today()
    insights = insights_for_staff(user=season.staff, start=start, end=end)
    long = next(row.figures for row in insights.campaigns if row.campaign == season.long)

    # Seven purchases of pay 80 get 100 (one consumer bought twice).
    assert (long.sold_count, long.sold_principal, long.sold_bonus) == (8, 64000, 16000)
    assert long.spent == 1000 + 2000 + 500 + 300 + 1000 + 3000
    assert long.withdrawals == {"instant": 1, "merchant": 2, "auto": 1, "expiry": 0, "cancelled": 1, "retained": 1}
    # Two requests got a retention message; one of them ended retained.
    assert (long.retention_asked, long.retention_retained, long.retention_rate) == (2, 1, 0.5)
    short = next(row.figures for row in insights.campaigns if row.campaign == season.short)
    assert short.spent == 300  # 5.00 spent, 2.00 of it returned
    assert (short.expiring_7d_principal, short.expiring_7d_bonus) == (short.outstanding_principal, short.outstanding_bonus)
    assert short.expiring_7d_principal == _ledger(season.short)[0] > 0 and long.expiring_30d_principal == 0
    expired = next(row.figures for row in insights.campaigns if row.campaign == season.expired)
    assert (expired.withdrawals["expiry"], expired.expired_principal, expired.outstanding_principal) == (1, 5000, 0)


def test_store_total_is_the_sum_of_its_campaigns_and_leaves_out_other_stores(season):
    start, end = _around_today()
    insights = insights_for_staff(user=season.staff, start=start, end=end)
    total = insights.total
    assert total.sold_count == sum(row.figures.sold_count for row in insights.campaigns) == 10
    open_wallets = Wallet.objects.filter(store=season.store).exclude(status="closed").aggregate(
        p=Sum("principal"), b=Sum("bonus"))
    assert (total.outstanding_principal, total.outstanding_bonus) == (open_wallets["p"], open_wallets["b"])
    # The daily series adds up to the range's flows.
    assert sum(d.sold for d in insights.days) == total.sold_principal
    assert sum(d.spent for d in insights.days) == total.spent
    assert sum(d.withdrawn for d in insights.days) == total.withdrawn_principal
    assert sum(d.expired for d in insights.days) == total.expired_principal == 5000


def test_median_time_to_refund_is_the_median_of_the_refunded_withdrawals(season):
    start, end = _around_today()
    insights = insights_for_staff(user=season.staff, start=start, end=end)
    refunded = WithdrawalRequest.objects.filter(
        wallet__store=season.store, status="refunded", resolution__in=["instant", "merchant", "auto"])
    # To the second under ten minutes, to the minute beyond.
    seconds = [int((r.resolved_at - r.requested_at).total_seconds()) for r in refunded]
    expected = statistics.median(s if s < 600 else s // 60 * 60 for s in seconds)
    assert len(seconds) == 4
    assert insights.total.median_refund_seconds == expected


def test_one_campaign_and_days_outside_the_range(season):
    today = timezone.localdate()
    one = insights_for_staff(user=season.staff, campaign=season.short, start=today - timedelta(days=1),
                             end=today + timedelta(days=1))
    assert [row.campaign for row in one.campaigns] == [season.short]
    assert one.total.sold_count == 1

    before = insights_for_staff(user=season.staff, start=today - timedelta(days=10), end=today - timedelta(days=2))
    # Nothing sold or withdrawn in those days; the liability is as of now all the same.
    assert (before.total.sold_count, before.total.spent, before.total.withdrawals_total) == (0, 0, 0)
    assert before.total.outstanding_principal == sum(_ledger(c)[0] for c in (season.long, season.short))
    assert len(before.days) == 9


def test_someone_elses_staff_see_only_their_own_store(season):
    start, end = _around_today()
    insights = insights_for_staff(user=season.other_staff, start=start, end=end)
    assert [row.campaign for row in insights.campaigns] == [season.other_campaign]
    assert insights.total.sold_count == 1
    assert insights_for_staff(user=season.consumers["instant"].user, start=start, end=end).campaigns == []


def _comparable(insights):
    def figures(f):
        return (f.sold_count, f.sold_principal, f.sold_bonus, f.spent, f.outstanding_principal, f.outstanding_bonus,
                f.withdrawals, f.withdrawn_principal, f.expired_principal, f.retention_asked, f.retention_retained,
                f.median_refund_seconds)

    return ([(row.campaign.pk, figures(row.figures)) for row in insights.campaigns], figures(insights.total),
            [(d.day, d.sold, d.spent, d.withdrawn, d.expired) for d in insights.days])


def test_settled_days_are_kept_once_and_read_back_to_the_same_figures(season):
    from refunds.insights import insights_rollup_all, rollup_through
    from refunds.models import InsightsHour, InsightsRollup

    start, end = _around_today()
    live = insights_for_staff(user=season.staff, start=start, end=end)
    # The first view finds no mark (no beat has run): it keeps everything up to the last minute itself.
    mark = InsightsRollup.objects.get(campaign=season.long)
    assert mark.through <= timezone.now() - timedelta(minutes=1)

    # An hour and more later, with no beat, the next view keeps what came since, and reads back the same.
    later = timezone.now() + timedelta(hours=1, minutes=20)
    kept = insights_for_staff(user=season.staff, start=start, end=end, now=later)
    mark = InsightsRollup.objects.get(campaign=season.long)
    assert mark.through == rollup_through(later)
    assert InsightsHour.objects.filter(campaign=season.long).exists()
    assert (mark.principal, mark.bonus) == _ledger(season.long)
    assert _comparable(kept) == _comparable(live)
    assert insights_rollup_all(now=later) == 1  # only the other store's campaign was still behind
    assert insights_rollup_all(now=later) == 0
    again = insights_for_staff(user=season.staff, start=start, end=end, now=later)
    assert _comparable(again) == _comparable(live)
