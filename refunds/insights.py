"""Selectors for campaign insights (shared by /merchant/insights/ and GET /api/v1/merchant/insights/).

Figures are sums of per-campaign, per-hour figures (`DayFigures`): sold, spent, withdrawn by outcome, expired,
the net change of principal and bonus, and the times to refund (a histogram: by the second under ten minutes, by
the minute beyond, so a median over any range is exact to that). The beat keeps them every minute
(`insights_rollup_all`): what each campaign did since its mark, up to the last minute (`rollup_through`), is
added to its `InsightsHour` rows with aggregate queries, and the mark moves on. A page or API call reads one
small row per hour of the range and, live through indexes on time, only what came after the mark — a minute or
two, whatever happened in the current hour (docs/perf.md, "Insights in a busy hour").

A row counts once: it is stamped when written, and the mark never passes the start of a transaction still open,
so a row committed late is still after the mark; everything before the mark is committed when it is read.

Outstanding principal and bonus are the running sum of every hour's net change since the campaign began (a
closed wallet nets to zero), equal to the open wallets' balances: the roll-up mark carries the sum up to where
it got. Expiring is the outstanding of the campaigns whose `valid_until` (copied to each wallet, never
changed) falls in the next 7 or 30 days.
"""
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from allowance.models import Campaign
from core.db import lagging_alias
from merchants.selectors import stores_for_staff
from refunds.locks import insights_rollups_lock
from refunds.models import InsightsHour, InsightsRollup

RESOLUTIONS = ("instant", "merchant", "auto", "expiry", "cancelled", "retained")
MAX_RANGE_DAYS = 366
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
COMMIT_SLACK = timedelta(minutes=1)  # a stamp may be taken this long before its transaction's first statement
ROLLUP_STALE = timedelta(hours=1)  # a page view rolls up itself only if the beat's mark is older than this
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=timezone.get_fixed_timezone(0))


@dataclass
class DayFigures:
    """What happened to one campaign on one local day. Every field adds up across days."""

    sold_count: int = 0
    sold_principal: int = 0
    sold_bonus: int = 0
    spent: int = 0
    principal_delta: int = 0
    bonus_delta: int = 0
    withdrawn_principal: int = 0
    expired_principal: int = 0
    instant: int = 0
    merchant: int = 0
    auto: int = 0
    expiry: int = 0
    cancelled: int = 0
    retained: int = 0
    retention_asked: int = 0
    retention_retained: int = 0
    refund_seconds: Counter = field(default_factory=Counter)  # time from request to refund (bucketed) → requests

    def add(self, other: "DayFigures") -> None:
        for f in fields(self):
            if f.name == "refund_seconds":
                self.refund_seconds.update(other.refund_seconds)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "refund_seconds" and getattr(self, f.name)}
        if self.refund_seconds:
            data["refund_seconds"] = {str(k): v for k, v in self.refund_seconds.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> "DayFigures":
        data = dict(data)
        seconds = Counter({int(k): v for k, v in data.pop("refund_seconds", {}).items()})
        return cls(**data, refund_seconds=seconds)


@dataclass
class Figures:
    """One campaign's figures over the range, or the store's (the sum of its campaigns)."""

    flows: DayFigures = field(default_factory=DayFigures)
    outstanding_principal: int = 0
    outstanding_bonus: int = 0
    expiring_7d_principal: int = 0
    expiring_7d_bonus: int = 0
    expiring_30d_principal: int = 0
    expiring_30d_bonus: int = 0

    sold_count = property(lambda self: self.flows.sold_count)
    sold_principal = property(lambda self: self.flows.sold_principal)
    sold_bonus = property(lambda self: self.flows.sold_bonus)
    spent = property(lambda self: self.flows.spent)
    withdrawn_principal = property(lambda self: self.flows.withdrawn_principal)
    expired_principal = property(lambda self: self.flows.expired_principal)
    retention_asked = property(lambda self: self.flows.retention_asked)
    retention_retained = property(lambda self: self.flows.retention_retained)

    @property
    def withdrawals(self) -> dict:
        return {resolution: getattr(self.flows, resolution) for resolution in RESOLUTIONS}

    @property
    def withdrawals_total(self) -> int:
        return sum(self.withdrawals.values())

    @property
    def retention_rate(self) -> float | None:
        """Requests with a retention message that ended `retained` / requests with a retention message that ended."""
        return self.retention_retained / self.retention_asked if self.retention_asked else None

    @property
    def median_refund_seconds(self) -> float | None:
        """Median time from request to refund (instant, merchant, auto), in seconds; None without refunds."""
        hist = self.flows.refund_seconds
        n = sum(hist.values())
        if not n:
            return None
        ordered = sorted(hist.items())

        def nth(k):  # the k-th (0-based) duration in sorted order
            for seconds, count in ordered:
                if k < count:
                    return seconds
                k -= count

        return (nth((n - 1) // 2) + nth(n // 2)) / 2

    def add(self, other: "Figures") -> None:
        self.flows.add(other.flows)
        for name in ("outstanding_principal", "outstanding_bonus", "expiring_7d_principal", "expiring_7d_bonus",
                     "expiring_30d_principal", "expiring_30d_bonus"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class DayPoint:
    day: date
    sold: int = 0
    spent: int = 0
    withdrawn: int = 0
    expired: int = 0


@dataclass
class CampaignInsights:
    campaign: Campaign
    figures: Figures


@dataclass
class Insights:
    start: date
    end: date
    campaigns: list[CampaignInsights]
    total: Figures
    days: list[DayPoint]


def insights_default_range(*, today: date | None = None) -> tuple[date, date]:
    """The last 30 days, today included."""
    today = today or timezone.localdate()
    return today - timedelta(days=29), today


def insights_range_check(start: date, end: date) -> dict[str, str]:
    """What is wrong with a range of days, {"from" or "to": message}; empty if nothing. Shared by the page, the
    API and the refunds export."""
    from django.utils.translation import gettext as _

    problems = {name: _("Choose a day from %(first)s to %(last)s.") % {"first": FIRST_DAY, "last": LAST_DAY}
                for name, day in (("from", start), ("to", end)) if not FIRST_DAY <= day <= LAST_DAY}
    if problems:
        return problems
    if start > end:
        return {"from": _("The first day must not be after the last day.")}
    if (end - start).days >= MAX_RANGE_DAYS:
        return {"to": _("At most %(days)d days at a time.") % {"days": MAX_RANGE_DAYS}}
    return {}


def insights_range_resolve(*, start: date | None, end: date | None, today: date | None = None
                           ) -> tuple[date, date, dict[str, str]]:
    """The days a page, the API or an export asked for, the defaults filled in (`end`: today; `start`: 29 days
    before `end`, not before FIRST_DAY), and what is wrong with them ({"from" or "to": message}).

    The default start is computed without stepping back from a day that may be in year 1 (0001-01-01 minus 29
    days is an OverflowError, a 500); a problem is reported only for a day the caller gave."""
    end = end or insights_default_range(today=today)[1]
    given_start = start is not None
    if not given_start:
        start = end if end <= FIRST_DAY else max(FIRST_DAY, end - timedelta(days=29))
    problems = insights_range_check(start, end)
    if not given_start:
        problems.pop("from", None)
    return start, end, problems


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def rollup_through(now: datetime) -> datetime:
    """How far the figures can be kept: the start of the minute COMMIT_SLACK before `now`, or before the oldest
    transaction still open on this database if that began earlier.

    Payments, ledger entries and resolutions are stamped with the time they are written, inside their transaction
    (or, for a sweep's batch, just before it: refunds/services.py `_written_at`). So once every transaction that
    began before a moment has ended, nothing can still appear stamped before that moment (less a slack for a stamp
    taken just before its transaction's first statement), and a minute before it can be kept for good. A
    transaction left open (a long export, a stuck worker) holds the mark back: the page views then read more live,
    never less than what happened. Sessions of the same database role see each other's `xact_start`.
    """
    with connection.cursor() as cur:
        cur.execute("SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND xact_start IS NOT NULL")
        oldest = cur.fetchone()[0]
    edge = min(now, oldest) if oldest is not None else now
    return timezone.localtime(edge - COMMIT_SLACK).replace(second=0, microsecond=0)


def insights_for_staff(*, user, start: date, end: date, store=None, campaign=None, now=None) -> Insights:
    """The insights of the staff member's stores (or one store, or one campaign) over the days start..end."""
    campaigns = Campaign.objects.filter(store__in=stores_for_staff(user=user)).select_related("store")
    if store is not None:
        campaigns = campaigns.filter(store=store)
    if campaign is not None:
        campaigns = campaigns.filter(pk=campaign.pk)
    return insights_for_campaigns(campaigns=list(campaigns.order_by("-starts_at", "-pk")), start=start, end=end, now=now)


def insights_for_campaigns(*, campaigns: list[Campaign], start: date, end: date, now=None) -> Insights:
    now = now or timezone.now()
    by_id = {c.pk: Figures() for c in campaigns}
    days = {start + timedelta(days=i): DayPoint(start + timedelta(days=i)) for i in range((end - start).days + 1)}
    if campaigns:
        ids = [c.pk for c in campaigns]
        marks = {m.campaign_id: m for m in InsightsRollup.objects.filter(campaign_id__in=ids)}
        # The beat keeps every campaign up to the last minute; a page view rolls up itself only when it is far
        # behind (the first view after a bulk load, or no beat running).
        stale = [i for i in ids if i not in marks or marks[i].through is None or marks[i].through < now - ROLLUP_STALE]
        if stale:
            marks.update(insights_rollup(campaign_ids=stale, through=rollup_through(now)))
        for campaign_id, mark in marks.items():
            by_id[campaign_id].outstanding_principal, by_id[campaign_id].outstanding_bonus = mark.principal, mark.bonus
        # The range's kept hours (served by the unique index on campaign, day, hour), then what came after each
        # campaign's mark, live.
        kept = (InsightsHour.objects.filter(campaign_id__in=ids, day__gte=start, day__lte=end)
                .values_list("campaign_id", "day", "figures"))
        # The live part may lag a moment: the replica's (core/db.py). The marks and kept hours stay on the primary:
        # a roll-up may have written them a moment ago.
        live = _hour_figures({i: marks[i].through for i in ids}, hi=None, using=lagging_alias())
        for (campaign_id, day, _), figures in live.items():
            by_id[campaign_id].outstanding_principal += figures.principal_delta
            by_id[campaign_id].outstanding_bonus += figures.bonus_delta
        for campaign_id, day, figures in [*((c, d, DayFigures.from_json(f)) for c, d, f in kept),
                                          *((c, d, f) for (c, d, _), f in live.items())]:
            if start <= day <= end:
                by_id[campaign_id].flows.add(figures)
                point = days[day]
                point.sold += figures.sold_principal
                point.spent += figures.spent
                point.withdrawn += figures.withdrawn_principal
                point.expired += figures.expired_principal
        for c in campaigns:
            figures = by_id[c.pk]
            if c.valid_until <= now + timedelta(days=30):
                figures.expiring_30d_principal, figures.expiring_30d_bonus = figures.outstanding_principal, figures.outstanding_bonus
            if c.valid_until <= now + timedelta(days=7):
                figures.expiring_7d_principal, figures.expiring_7d_bonus = figures.outstanding_principal, figures.outstanding_bonus
    total = Figures()
    for figures in by_id.values():
        total.add(figures)
    return Insights(start=start, end=end, campaigns=[CampaignInsights(c, by_id[c.pk]) for c in campaigns],
                    total=total, days=list(days.values()))


def insights_rollup(*, campaign_ids: list[int], through: datetime) -> dict[int, InsightsRollup]:
    """Keep what happened to these campaigns before `through` (see `rollup_through`) in InsightsHour, in one
    transaction; return their marks (how far each got, and its outstanding principal and bonus there).

    Each campaign is read from where its mark stopped (or its first payment) to `through`, all campaigns in one
    pass of aggregate queries, and the result is added to the hour rows it falls in (the current hour's row grows
    minute by minute). Two roll-ups at once: the second waits on the marks' locks (nothing else takes them, so
    purchases are never held up) and finds the work done.
    """
    with transaction.atomic():
        InsightsRollup.objects.bulk_create([InsightsRollup(campaign_id=i) for i in campaign_ids], ignore_conflicts=True)
        marks = insights_rollups_lock(campaign_ids=campaign_ids)
        behind = {i: m for i, m in marks.items() if m.through is None or m.through < through}
        since = {i: m.through or min(_first_activity(i), through) for i, m in behind.items()}
        rows = _hour_figures(since, hi=through) if behind else {}
        if rows:
            hours = {(c, d, h): DayFigures.from_json(f) for c, d, h, f in InsightsHour.objects.filter(
                campaign_id__in={c for c, _, _ in rows}, day__in={d for _, d, _ in rows}
            ).values_list("campaign_id", "day", "hour", "figures") if (c, d, h) in rows}
            for key, figures in rows.items():
                hours.setdefault(key, DayFigures()).add(figures)
            InsightsHour.objects.bulk_create(
                [InsightsHour(campaign_id=c, day=d, hour=h, figures=f.to_json()) for (c, d, h), f in hours.items()],
                update_conflicts=True, unique_fields=["campaign", "day", "hour"], update_fields=["figures"])
        for (campaign_id, _, _), figures in rows.items():
            behind[campaign_id].principal += figures.principal_delta
            behind[campaign_id].bonus += figures.bonus_delta
        for mark in behind.values():
            mark.through = through
        InsightsRollup.objects.bulk_update(behind.values(), ["through", "principal", "bonus"])
    return marks


def _first_activity(campaign_id: int) -> datetime:
    """The first payment of a campaign: nothing of it happened before (served by payment_by_campaign_time)."""
    with connection.cursor() as cur:
        cur.execute("SELECT min(created_at) FROM allowance_payment WHERE campaign_id = %s", [campaign_id])
        first = cur.fetchone()[0]
    return first or timezone.now()


# Each query reads one table's rows in [lo, hi) through an index on (campaign, time) or on time, and groups them
# by campaign and local day in the database: one round trip each, a handful of rows back.

def _hour_figures(since: dict[int, datetime], *, hi: datetime | None,
                  using: str = DEFAULT_DB_ALIAS) -> dict[tuple[int, date, int], DayFigures]:
    """{(campaign, local day, local hour): figures} of what happened to each campaign from its `since` to `hi`."""
    out: dict[tuple[int, date, int], DayFigures] = {}
    params = {"ids": list(since), "los": list(since.values()), "lo": min(since.values()), "hi": hi or FAR_FUTURE,
              "tz": settings.TIME_ZONE}
    marks = "unnest(%(ids)s::bigint[], %(los)s::timestamptz[]) AS m(campaign_id, lo)"

    def at(campaign_id, local):
        return out.setdefault((campaign_id, local.date(), local.hour), DayFigures())

    with connections[using].cursor() as cur:
        cur.execute(
            "SELECT campaign_id, date_trunc('hour', created_at AT TIME ZONE %(tz)s), count(*), sum(amount),"
            " sum(credit_amount - amount)"
            " FROM allowance_payment JOIN " + marks + " USING (campaign_id)"
            " WHERE created_at >= m.lo AND created_at < %(hi)s"
            " GROUP BY 1, 2", params)
        for campaign_id, hour, count, principal, bonus in cur.fetchall():
            f = at(campaign_id, hour)
            f.sold_count, f.sold_principal, f.sold_bonus = count, int(principal), int(bonus)

        # Spent = spends less what returns gave back (to an open wallet, or refunded from a closed one); the net
        # change of every entry is what the wallets' balances moved by.
        cur.execute(
            "SELECT w.campaign_id, date_trunc('hour', e.created_at AT TIME ZONE %(tz)s),"
            " -coalesce(sum(e.principal_delta + e.bonus_delta) FILTER (WHERE e.kind IN ('spend', 'spend_return')), 0),"
            " sum(e.principal_delta), sum(e.bonus_delta)"
            " FROM allowance_ledgerentry e JOIN allowance_wallet w ON w.id = e.wallet_id"
            " JOIN " + marks + " ON m.campaign_id = w.campaign_id"
            " WHERE e.created_at >= %(lo)s AND e.created_at >= m.lo AND e.created_at < %(hi)s"
            " GROUP BY 1, 2", params)
        for campaign_id, hour, spent, principal, bonus in cur.fetchall():
            f = at(campaign_id, hour)
            f.spent, f.principal_delta, f.bonus_delta = int(spent), int(principal), int(bonus)

        # Requests by the hour they ended: outcome, retention, and the time to refund of the consumer's own
        # withdrawals (instant, merchant, auto; expiry excluded) by the second under ten minutes, by the minute
        # beyond (so an hour's histogram stays small).
        cur.execute(
            "SELECT w.campaign_id, date_trunc('hour', r.resolved_at AT TIME ZONE %(tz)s),"
            " CASE WHEN r.status = 'refunded' THEN r.resolution ELSE r.status END,"
            " CASE WHEN r.status = 'refunded' AND r.resolution <> 'expiry' THEN"
            "   CASE WHEN r.resolved_at - r.requested_at < interval '10 minutes'"
            "   THEN floor(extract(epoch FROM r.resolved_at - r.requested_at))"
            "   ELSE floor(extract(epoch FROM r.resolved_at - r.requested_at) / 60) * 60 END::bigint END,"
            " count(*), coalesce(sum(r.principal) FILTER (WHERE r.status = 'refunded'), 0),"
            " count(*) FILTER (WHERE rm.asked), count(*) FILTER (WHERE rm.asked AND r.status = 'retained')"
            " FROM refunds_withdrawalrequest r JOIN allowance_wallet w ON w.id = r.wallet_id"
            " CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM refunds_retentionmessage m"
            "                                    WHERE m.request_id = r.id) AS asked) rm"
            " JOIN " + marks + " ON m.campaign_id = w.campaign_id"
            " WHERE r.resolved_at >= %(lo)s AND r.resolved_at >= m.lo AND r.resolved_at < %(hi)s"
            " GROUP BY 1, 2, 3, 4", params)
        for campaign_id, hour, outcome, seconds, count, principal, asked, retained in cur.fetchall():
            f = at(campaign_id, hour)
            setattr(f, outcome, getattr(f, outcome) + count)
            f.retention_asked += asked
            f.retention_retained += retained
            if outcome == "expiry":
                f.expired_principal += int(principal)
            else:
                f.withdrawn_principal += int(principal)
            if seconds is not None:
                f.refund_seconds[max(int(seconds), 0)] += count
    return out


def insights_rollup_all(*, now=None) -> int:
    """Keep every campaign's figures up to the last minute (the beat runs this every minute, so a page view reads
    only the last minute or two live). Returns how many campaigns were behind."""
    through = rollup_through(now or timezone.now())
    behind = list(Campaign.objects.exclude(pk__in=InsightsRollup.objects.filter(through__gte=through)
                                           .values("campaign_id")).order_by("pk").values_list("pk", flat=True))
    if behind:
        insights_rollup(campaign_ids=behind, through=through)
    return len(behind)
