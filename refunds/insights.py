"""Selectors for campaign insights (shared by /merchant/insights/ and GET /api/v1/merchant/insights/).

Every figure is an aggregate query over indexed columns (docs/perf.md, "Insights"): flows over the chosen
days (sold, spent, withdrawn, expired) come from the payments, ledger entries and withdrawal requests whose
timestamps fall in the range; the liability (outstanding, expiring) is the open wallets now. Days are the
store's local calendar days (TIME_ZONE), `start` and `end` both included.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from allowance.models import Campaign
from merchants.selectors import stores_for_staff

RESOLUTIONS = ("instant", "merchant", "auto", "expiry", "cancelled", "retained")
MAX_RANGE_DAYS = 366


@dataclass
class Figures:
    """One campaign's figures, or the store's (the sum of its campaigns)."""

    sold_count: int = 0
    sold_principal: int = 0
    sold_bonus: int = 0
    spent: int = 0
    outstanding_principal: int = 0
    outstanding_bonus: int = 0
    withdrawals: dict = field(default_factory=lambda: dict.fromkeys(RESOLUTIONS, 0))
    withdrawn_principal: int = 0
    expired_principal: int = 0
    retention_asked: int = 0
    retention_retained: int = 0
    median_refund_seconds: float | None = None
    expiring_7d_principal: int = 0
    expiring_7d_bonus: int = 0
    expiring_7d_wallets: int = 0
    expiring_30d_principal: int = 0
    expiring_30d_bonus: int = 0
    expiring_30d_wallets: int = 0

    @property
    def retention_rate(self) -> float | None:
        """Requests with a retention message that ended `retained` / requests with a retention message that ended."""
        return self.retention_retained / self.retention_asked if self.retention_asked else None

    @property
    def withdrawals_total(self) -> int:
        return sum(self.withdrawals.values())


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


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_default_timezone()
    return (timezone.make_aware(datetime.combine(start, time.min), tz),
            timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz))


def insights_for_staff(*, user, start: date, end: date, store=None, campaign=None, now=None) -> Insights:
    """The insights of the staff member's stores (or one store, or one campaign) over the days start..end."""
    now = now or timezone.now()
    campaigns = Campaign.objects.filter(store__in=stores_for_staff(user=user)).select_related("store")
    if store is not None:
        campaigns = campaigns.filter(store=store)
    if campaign is not None:
        campaigns = campaigns.filter(pk=campaign.pk)
    campaigns = list(campaigns.order_by("-starts_at", "-pk"))
    return insights_for_campaigns(campaigns=campaigns, start=start, end=end, now=now)


def insights_for_campaigns(*, campaigns: list[Campaign], start: date, end: date, now=None) -> Insights:
    now = now or timezone.now()
    ids = [c.pk for c in campaigns]
    by_id = {pk: Figures() for pk in ids}
    total = Figures()
    days = {start + timedelta(days=i): DayPoint(start + timedelta(days=i)) for i in range((end - start).days + 1)}
    if ids:
        lo, hi = _bounds(start, end)
        params = {"ids": ids, "lo": lo, "hi": hi, "tz": settings.TIME_ZONE, "now": now,
                  "in7": now + timedelta(days=7), "in30": now + timedelta(days=30)}
        with connection.cursor() as cur:
            _sold(cur, params, by_id, days)
            _spent(cur, params, by_id, days)
            _withdrawals(cur, params, by_id, days)
            _median(cur, params, by_id, total)
            _outstanding(cur, params, by_id)
    for figures in by_id.values():
        _add(total, figures)
    return Insights(start=start, end=end, campaigns=[CampaignInsights(c, by_id[c.pk]) for c in campaigns],
                    total=total, days=list(days.values()))


def _add(total: Figures, figures: Figures) -> None:
    for name in ("sold_count", "sold_principal", "sold_bonus", "spent", "outstanding_principal", "outstanding_bonus",
                 "withdrawn_principal", "expired_principal", "retention_asked", "retention_retained",
                 "expiring_7d_principal", "expiring_7d_bonus", "expiring_7d_wallets", "expiring_30d_principal",
                 "expiring_30d_bonus", "expiring_30d_wallets"):
        setattr(total, name, getattr(total, name) + getattr(figures, name))
    for resolution, count in figures.withdrawals.items():
        total.withdrawals[resolution] += count


# Each query reads one table's rows in the range through an index on (campaign or wallet, time) or on time
# alone, and groups them by campaign and local day in the database: one round trip, a handful of rows back.

def _sold(cur, params, by_id, days) -> None:
    cur.execute(
        "SELECT campaign_id, (created_at AT TIME ZONE %(tz)s)::date, count(*), sum(amount),"
        " sum(credit_amount - amount)"
        " FROM allowance_payment WHERE campaign_id = ANY(%(ids)s) AND created_at >= %(lo)s AND created_at < %(hi)s"
        " GROUP BY 1, 2", params)
    for campaign_id, day, count, principal, bonus in cur.fetchall():
        figures = by_id[campaign_id]
        figures.sold_count += count
        figures.sold_principal += principal
        figures.sold_bonus += bonus
        days[day].sold += principal


def _spent(cur, params, by_id, days) -> None:
    # Spent = spends less what returns gave back (to an open wallet, or refunded from a closed one).
    cur.execute(
        "SELECT w.campaign_id, (e.created_at AT TIME ZONE %(tz)s)::date,"
        " -sum(e.principal_delta + e.bonus_delta)"
        " FROM allowance_ledgerentry e JOIN allowance_wallet w ON w.id = e.wallet_id"
        " WHERE e.kind IN ('spend', 'spend_return') AND e.created_at >= %(lo)s AND e.created_at < %(hi)s"
        " AND w.campaign_id = ANY(%(ids)s) GROUP BY 1, 2", params)
    for campaign_id, day, spent in cur.fetchall():
        by_id[campaign_id].spent += spent
        days[day].spent += spent


def _withdrawals(cur, params, by_id, days) -> None:
    cur.execute(
        "SELECT w.campaign_id, (r.resolved_at AT TIME ZONE %(tz)s)::date,"
        " CASE WHEN r.status = 'refunded' THEN r.resolution ELSE r.status END,"
        " count(*), sum(r.principal) FILTER (WHERE r.status = 'refunded'),"
        " count(*) FILTER (WHERE m.asked), count(*) FILTER (WHERE m.asked AND r.status = 'retained')"
        " FROM refunds_withdrawalrequest r JOIN allowance_wallet w ON w.id = r.wallet_id"
        " CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM refunds_retentionmessage m"
        "                                    WHERE m.request_id = r.id) AS asked) m"
        " WHERE r.resolved_at >= %(lo)s AND r.resolved_at < %(hi)s AND w.campaign_id = ANY(%(ids)s)"
        " GROUP BY 1, 2, 3", params)
    for campaign_id, day, outcome, count, principal, asked, retained in cur.fetchall():
        figures = by_id[campaign_id]
        figures.withdrawals[outcome] += count
        figures.retention_asked += asked
        figures.retention_retained += retained
        if outcome == "expiry":
            figures.expired_principal += principal or 0
            days[day].expired += principal or 0
        elif principal:
            figures.withdrawn_principal += principal
            days[day].withdrawn += principal


def _median(cur, params, by_id, total: Figures) -> None:
    # Time to refund: from the request to its refund, for the consumer's own withdrawals (expiry excluded).
    cur.execute(
        "SELECT w.campaign_id, percentile_cont(0.5) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM r.resolved_at - r.requested_at))"
        " FROM refunds_withdrawalrequest r JOIN allowance_wallet w ON w.id = r.wallet_id"
        " WHERE r.resolved_at >= %(lo)s AND r.resolved_at < %(hi)s AND r.status = 'refunded'"
        " AND r.resolution IN ('instant', 'merchant', 'auto') AND w.campaign_id = ANY(%(ids)s)"
        " GROUP BY GROUPING SETS ((w.campaign_id), ())", params)
    for campaign_id, median in cur.fetchall():
        if median is None:
            continue
        if campaign_id is None:
            total.median_refund_seconds = float(median)
        else:
            by_id[campaign_id].median_refund_seconds = float(median)


def _outstanding(cur, params, by_id) -> None:
    cur.execute(
        "SELECT campaign_id, sum(principal), sum(bonus),"
        " sum(principal) FILTER (WHERE valid_until <= %(in7)s), sum(bonus) FILTER (WHERE valid_until <= %(in7)s),"
        " count(*) FILTER (WHERE valid_until <= %(in7)s AND principal + bonus > 0),"
        " sum(principal) FILTER (WHERE valid_until <= %(in30)s), sum(bonus) FILTER (WHERE valid_until <= %(in30)s),"
        " count(*) FILTER (WHERE valid_until <= %(in30)s AND principal + bonus > 0)"
        " FROM allowance_wallet WHERE campaign_id = ANY(%(ids)s) AND status <> 'closed' GROUP BY 1", params)
    for campaign_id, p, b, p7, b7, n7, p30, b30, n30 in cur.fetchall():
        figures = by_id[campaign_id]
        figures.outstanding_principal, figures.outstanding_bonus = p or 0, b or 0
        figures.expiring_7d_principal, figures.expiring_7d_bonus, figures.expiring_7d_wallets = p7 or 0, b7 or 0, n7
        figures.expiring_30d_principal, figures.expiring_30d_bonus, figures.expiring_30d_wallets = p30 or 0, b30 or 0, n30
