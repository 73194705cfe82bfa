"""Selectors for the finance CSV exports: each yields plain rows from a server-side cursor (`iterator()`), so an
export of a million rows streams in constant memory. The cursor is opened on `stream_alias()` (core/db.py): the
replica when there is one, else a connection that keeps cursors (DATABASE_STREAM_URL) — never a transaction-mode
pool, which cannot hold one (docs/scaling.md). Text a consumer or merchant typed is defused for
spreadsheets (a leading = + - @ would otherwise run as a formula)."""
from datetime import date, datetime, time, timedelta

from django.contrib.postgres.aggregates import StringAgg
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allowance.models import Wallet
from core.db import stream_alias
from core.money import fen_to_yuan
from merchants.selectors import stores_for_staff
from refunds.models import Refund, WithdrawalRequest
from refunds.selectors import consumers_with_wallets_for_staff

CHUNK = 2000

# Each export's columns: (the fixed machine-readable name, the name people read, the choices of a status column).
# Without ?lang the exports use the fixed names and status codes (the README's "CSV exports" lists them), which
# finance tools can rely on; ?lang=en or ?lang=zh-hans (the pages' links) gives names and statuses to read.
REFUND_COLUMNS = [
    ("refund_id", _("Refund ID"), None), ("created_at", _("Created at"), None), ("kind", _("Kind"), Refund.Kind),
    ("request_id", _("Request ID"), None), ("resolution", _("Resolution"), WithdrawalRequest.Resolution),
    ("account_name", _("Account name"), None), ("store", _("Store"), None), ("campaign", _("Campaign"), None),
    ("amount", _("Amount (yuan)"), None), ("payout_status", _("Payout status"), Refund.PayoutStatus),
    ("paid_at", _("Paid at"), None), ("gateway_reference", _("Gateway reference"), None),
]
USER_COLUMNS = [
    ("account_name", _("Account name"), None), ("wallet_id", _("Wallet ID"), None), ("store", _("Store"), None),
    ("campaign", _("Campaign"), None), ("status", _("Status"), Wallet.Status),
    ("principal", _("Principal (yuan)"), None), ("bonus", _("Bonus (yuan)"), None), ("total", _("Total (yuan)"), None),
    ("paid", _("Paid (yuan)"), None), ("valid_until", _("Valid until"), None),
    ("pending_request_id", _("Pending request ID"), None), ("pending_principal", _("Pending principal (yuan)"), None),
    ("due_at", _("Due at"), None),
]
WALLET_COLUMNS = [
    ("wallet_id", _("Wallet ID"), None), ("account_name", _("Account name"), None),
    ("status", _("Status"), Wallet.Status), ("paid", _("Paid (yuan)"), None), ("credited", _("Credited (yuan)"), None),
    ("principal", _("Principal (yuan)"), None), ("bonus", _("Bonus (yuan)"), None),
    ("valid_until", _("Valid until"), None), ("created_at", _("Created at"), None), ("closed_at", _("Closed at"), None),
    ("expiry_reminded_at", _("Expiry reminder sent at"), None),
]
REFUND_HEADER = [name for name, _label, _choices in REFUND_COLUMNS]
USER_HEADER = [name for name, _label, _choices in USER_COLUMNS]
WALLET_HEADER = [name for name, _label, _choices in WALLET_COLUMNS]


def for_people(columns, rows):
    """The header and rows with column names and status values as people read them, in the active language."""
    labels = [dict(choices.choices) if choices else None for _name, _label, choices in columns]
    yield [str(label) for _name, label, _choices in columns]
    for row in rows:
        yield [str(names.get(value, value)) if names else value for value, names in zip(row, labels)]


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
