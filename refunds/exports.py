"""Selectors for the finance CSV exports: each yields plain rows from a server-side cursor (`iterator()`), so an
export of a million rows streams in constant memory. The cursor is opened on `stream_alias()` (core/db.py): the
replica when there is one, else a connection that keeps cursors (DATABASE_STREAM_URL) — never a transaction-mode
pool, which cannot hold one (docs/scaling.md). Text a consumer or merchant typed is defused for
spreadsheets (a leading = + - @ would otherwise run as a formula)."""
from datetime import date, datetime, time, timedelta

from django.contrib.postgres.aggregates import StringAgg
from django.utils import timezone

from allowance.models import Wallet
from core.db import stream_alias
from core.money import fen_to_yuan
from merchants.selectors import stores_for_staff
from refunds.models import Refund
from refunds.selectors import consumers_with_wallets_for_staff

CHUNK = 2000

REFUND_HEADER = ["refund_id", "created_at", "kind", "request_id", "resolution", "account_name", "store", "campaign",
                 "amount", "payout_status", "paid_at", "gateway_reference"]
USER_HEADER = ["account_name", "wallet_id", "store", "campaign", "status", "principal", "bonus", "total", "paid",
               "valid_until", "pending_request_id", "pending_principal", "due_at"]
WALLET_HEADER = ["wallet_id", "account_name", "status", "paid", "credited", "principal", "bonus", "valid_until",
                 "created_at", "closed_at", "expiry_reminded_at"]


def _text(value) -> str:
    value = "" if value is None else str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _when(value) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def refund_rows_for_staff(*, user, start: date, end: date, store=None):
    """Refunds created on the days start..end (local, both included) in the staff member's stores (or one)."""
    tz = timezone.get_default_timezone()
    lo = timezone.make_aware(datetime.combine(start, time.min), tz)
    hi = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz)
    stores = stores_for_staff(user=user)
    if store is not None:
        stores = stores.filter(pk=store.pk)
    rows = (
        Refund.objects.using(stream_alias()).filter(created_at__gte=lo, created_at__lt=hi, wallet__store__in=stores)
        .annotate(refs=StringAgg("allocations__gateway_reference", ";", default=""))
        .order_by("created_at", "pk")
        .values_list("pk", "created_at", "kind", "request_id", "request__resolution", "wallet__consumer__account_name",
                     "wallet__store__name", "wallet__campaign__name", "amount", "payout_status", "paid_at", "refs")
    )
    for pk, created, kind, request_id, resolution, name, store_name, campaign, amount, payout, paid_at, refs in (
            rows.iterator(chunk_size=CHUNK)):
        yield [pk, _when(created), kind, request_id or "", resolution or "", _text(name), _text(store_name),
               _text(campaign), fen_to_yuan(amount), payout, _when(paid_at), refs]


def user_rows_for_staff(*, user, account_name: str):
    """The user-management search result (at most 50 consumers, like the page), one row per wallet."""
    for consumer, wallets in consumers_with_wallets_for_staff(user=user, account_name=account_name, prefix=True):
        for w in wallets:
            req = w.pending_request
            yield [_text(consumer.account_name), w.pk, _text(w.store.name), _text(w.campaign.name), w.status,
                   fen_to_yuan(w.principal), fen_to_yuan(w.bonus), fen_to_yuan(w.total), fen_to_yuan(w.paid),
                   _when(w.valid_until), req.pk if req else "", fen_to_yuan(req.principal) if req else "",
                   _when(req.due_at) if req else ""]


def wallet_rows_for_campaign(*, campaign):
    rows = (
        Wallet.objects.using(stream_alias()).filter(campaign=campaign).order_by("pk")
        .values_list("pk", "consumer__account_name", "status", "paid", "credited", "principal", "bonus", "valid_until",
                     "created_at", "closed_at", "expiry_reminded_at")
    )
    for pk, name, status, paid, credited, principal, bonus, valid_until, created, closed, reminded in (
            rows.iterator(chunk_size=CHUNK)):
        yield [pk, _text(name), status, fen_to_yuan(paid), fen_to_yuan(credited), fen_to_yuan(principal),
               fen_to_yuan(bonus), _when(valid_until), _when(created), _when(closed), _when(reminded)]
