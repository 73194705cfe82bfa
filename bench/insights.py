"""Campaign insights at scale (issue 15): the selector the page and the API share, over a store of N wallets.

The data is the search phase's (one campaign, N wallets bought three days ago, spent, a share withdrawn:
refunded, cancelled, held or due), so every figure has rows to read; the range is the page's default, the last
30 days, which holds all of them. The first call rolls them up once (timed apart: `insights_first_ms`; in
production the beat does it every minute) and every later call reads the kept hours plus the last minute. Each sample is `refunds.insights.insights_for_staff`, evaluated, for the
store's staff member. `RESULT insights_p95_ms`; target <= 200 at 1,000,000 wallets.
"""
import statistics
import time

from django.db import connection


def _check_against_ledger(total) -> None:
    """The figures agree with the ledger and the wallets: sold count and principal, outstanding principal."""
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), sum(principal_delta) FROM allowance_ledgerentry WHERE kind = 'top_up'")
        count, principal = cur.fetchone()
        cur.execute("SELECT sum(principal) FROM allowance_wallet WHERE status <> 'closed'")
        outstanding = cur.fetchone()[0] or 0
    assert (total.sold_count, total.sold_principal, total.outstanding_principal) == (count, principal, outstanding), (
        "insights disagree with the ledger")


def _timed(call, samples: int) -> list[float]:
    """`samples` timings of `call` in ms; returns their percentiles (q[49] the median, q[94] the 95th)."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(times, n=100, method="inclusive")


def phase_insights(args, results: dict, fresh, say) -> None:
    from django.contrib.auth import get_user_model

    from refunds.insights import insights_default_range, insights_for_staff

    wallets = args.insights_wallets
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM allowance_wallet")
        have = cur.fetchone()[0]
    if have < wallets:
        say(f"\n== 6. Insights: seeding {wallets:,} wallets in the store ==")
        fresh(wallets // 101, background=wallets - wallets // 101)
        have = wallets
    say(f"\n== 6. Campaign insights over {have:,} wallets (default range: the last 30 days) ==")
    staff = get_user_model().objects.get(username="bench-staff")
    start, end = insights_default_range()

    # The first call after the data arrived rolls everything up to the last minute (the beat's job, every minute).
    first = time.perf_counter()
    insights = insights_for_staff(user=staff, start=start, end=end)
    first_ms = (time.perf_counter() - first) * 1000
    total = insights.total
    _check_against_ledger(total)
    say(f"  figures: sold {total.sold_count:,}, spent {total.spent / 100:,.2f}, outstanding "
        f"{total.outstanding_principal / 100:,.2f}, withdrawals {total.withdrawals}")

    q = _timed(lambda: insights_for_staff(user=staff, start=start, end=end), args.insights_samples)
    say(f"  insights_for_staff: first (rolls {have:,} wallets' days up) {first_ms:.0f} ms, then p50 {q[49]:.0f} ms, p95 {q[94]:.0f} ms "
        f"({args.insights_samples} samples)")
    with connection.cursor() as cur:  # where the time goes, per query
        for name, sql in _EXPLAINED.items():
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, {"campaign_id": insights.campaigns[0].campaign.pk})
            plan = cur.fetchone()[0][0]
            say(f"    {name}: {plan['Execution Time']:.0f} ms ({plan['Plan']['Node Type']})")
    results["insights_p95_ms"] = q[94]
    results["insights_first_ms"] = first_ms


def phase_insights_hot_hour(args, results: dict, say) -> None:
    """`insights_hot_hour_p95_ms`: the same selector over N wallets whose purchase, spend and (for half of them)
    refund all happened in the last ten minutes — a mass sale, a mass auto-refund. The beat's roll-up runs first,
    as it does every minute (`insights_hot_rollup_ms`: what it pays once for all that activity), then the page
    views are timed: they read the kept minutes and, live, only what came after the mark. For comparison, the live
    read of the whole activity (what every page view paid before the minute roll-up) is timed too
    (`insights_hot_live_ms`, median of a few)."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from allowance.models import Campaign
    from bench import seed
    from merchants.selectors import stores_for_staff
    from refunds.insights import _hour_figures, insights_default_range, insights_for_staff, insights_rollup_all

    wallets = args.insights_hot_wallets
    say(f"\n== 6b. Insights in a busy hour: {wallets:,} wallets bought, spent and half of them refunded in the "
        f"last 10 minutes ==")
    started = time.perf_counter()
    now = timezone.now()
    seed.reset()
    ids = seed.fixtures()
    seed.seed(ids=ids, lo=1, hi=wallets, kind_sql="CASE WHEN mod(i, 2) = 0 THEN 'refunded' ELSE 'consumed' END",
              now=now, bought_at=now - timedelta(minutes=10), refunded_at=now - timedelta(minutes=5))
    connection.close()
    say(f"  set-up: {time.perf_counter() - started:.1f}s (not timed)")
    staff = get_user_model().objects.get(username="bench-staff")
    start, end = insights_default_range()
    campaign_ids = list(Campaign.objects.filter(store__in=stores_for_staff(user=staff)).values_list("pk", flat=True))
    live = [_timed_once(lambda: _hour_figures({i: now - timedelta(hours=1) for i in campaign_ids}, hi=None))
            for _ in range(3)]
    rollup_started = time.perf_counter()
    behind = insights_rollup_all()  # the beat's job
    rollup_ms = (time.perf_counter() - rollup_started) * 1000
    total = insights_for_staff(user=staff, start=start, end=end).total
    _check_against_ledger(total)
    q = _timed(lambda: insights_for_staff(user=staff, start=start, end=end), args.insights_samples)
    again_started = time.perf_counter()
    insights_rollup_all()  # the next minute's beat: only what came since
    again_ms = (time.perf_counter() - again_started) * 1000
    say(f"  figures: sold {total.sold_count:,}, spent {total.spent / 100:,.2f}, refunded "
        f"{total.withdrawn_principal / 100:,.2f}")
    say(f"  before (every view read the activity live): {statistics.median(live):.0f} ms; the beat's roll-up of it "
        f"({behind} campaigns): {rollup_ms:.0f} ms, the next minute's {again_ms:.0f} ms")
    say(f"  insights_for_staff after the beat: p50 {q[49]:.0f} ms, p95 {q[94]:.0f} ms ({args.insights_samples} samples)")
    results["insights_hot_hour_p95_ms"] = q[94]
    results["insights_hot_rollup_ms"] = rollup_ms
    results["insights_hot_live_ms"] = statistics.median(live)


def _timed_once(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


_EXPLAINED = {
    "kept hours (InsightsHour)": "SELECT count(*) FROM refunds_insightshour WHERE campaign_id = %(campaign_id)s",
    "ledger after the roll-up mark (BRIN)": "SELECT sum(e.principal_delta) FROM allowance_ledgerentry e"
                             " JOIN allowance_wallet w ON w.id = e.wallet_id WHERE e.created_at >= (SELECT through"
                             " FROM refunds_insightsrollup WHERE campaign_id = %(campaign_id)s)"
                             " AND w.campaign_id = %(campaign_id)s",
}
