"""Withdrawal requests and refunds (SPEC §4, §5). Lock order everywhere: wallet → request → payments."""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from allowance import errors
from allowance.models import LedgerEntry, Payment, Wallet
from allowance.services import audit_record, wallets_lock
from merchants.selectors import store_staff_check
from refunds.models import RefundAllocation, Refund, RetentionMessage, WithdrawalRequest

log = logging.getLogger(__name__)
Status = WithdrawalRequest.Status
Resolution = WithdrawalRequest.Resolution


def hold() -> timedelta:
    return timedelta(seconds=settings.WITHDRAWAL_HOLD_SECONDS)


# --- refunds -------------------------------------------------------------------------------


def refund_create(*, wallet: Wallet, amount: int, kind: str, request=None, order=None) -> Refund:
    """Commit a refund of `amount` to the wallet's payments, newest first; the payout runs after commit.

    Called inside the caller's transaction with the wallet locked.
    """
    return refunds_create(items=[RefundItem(wallet=wallet, amount=amount, kind=kind, request=request, order=order)])[0]


@dataclass(frozen=True)
class RefundItem:
    wallet: Wallet
    amount: int
    kind: str
    request: "WithdrawalRequest | None" = None
    order: object = None


def refunds_create(*, items: list[RefundItem]) -> list[Refund]:
    """`refund_create` for many locked wallets at once: the same rows, a constant number of queries.

    Each refund goes to its wallet's payments newest first, never beyond what a payment has left; the payments
    are locked (after their wallets, which the caller holds) in wallet order. One after-commit hand-off carries
    every payout of the batch.
    """
    if not items:
        return []
    refunds = [Refund(wallet=i.wallet, amount=i.amount, kind=i.kind, request=i.request, order=i.order) for i in items]
    refund_ids = _rows_insert(Refund, ["wallet_id", "amount", "kind", "request_id", "order_id", "created_at"],
                              [(r.wallet_id, r.amount, r.kind, r.request_id, r.order_id, r.created_at) for r in refunds])
    for refund, refund_id in zip(refunds, refund_ids):
        refund.pk = refund_id
        refund._state.adding = False
    wallet_ids = sorted({i.wallet.pk for i in items})
    payments_by_wallet: dict[int, list[Payment]] = {}
    for payment in (Payment.objects.select_for_update().filter(wallet_id__in=wallet_ids)
                    .order_by("wallet_id", "-created_at", "-pk")):
        payments_by_wallet.setdefault(payment.wallet_id, []).append(payment)
    touched: dict[int, Payment] = {}
    allocations = []
    for item, refund in zip(items, refunds):
        remaining = item.amount
        for payment in payments_by_wallet.get(item.wallet.pk, []):
            if remaining == 0:
                break
            part = min(payment.refundable, remaining)
            if part <= 0:
                continue
            payment.refunded_amount += part
            touched[payment.pk] = payment
            allocations.append((refund.pk, payment.pk, part))
            remaining -= part
        if remaining:
            # Principal can never exceed what was paid and not yet refunded; if it does the data is corrupt.
            raise RuntimeError(f"wallet {item.wallet.pk}: {remaining} fen of principal has no payment to go back to")
    _rows_update(Payment, list(touched.values()), ["refunded_amount"])
    _rows_insert(RefundAllocation, ["refund_id", "payment_id", "amount"], allocations)
    transaction.on_commit(partial(_payouts_enqueue, [refund.pk for refund in refunds]))
    return refunds


def _rows_update(model, objs: list, fields: list[str]) -> None:
    """`bulk_update` of `fields` for `objs`. On PostgreSQL as one `UPDATE … FROM unnest(arrays)`: Django's
    bulk_update builds a CASE per field and row, which the sweep's profile showed to cost more than the SQL."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    pk = model._meta.pk
    columns = [pk] + [model._meta.get_field(name) for name in fields]
    arrays = [[column.get_db_prep_save(getattr(obj, column.attname), connection) for obj in objs] for column in columns]
    table, q = model._meta.db_table, connection.ops.quote_name
    names = [f"c{i}" for i in range(len(columns))]
    unnest = ", ".join(f"%s::{column.rel_db_type(connection) if column.is_relation else column.db_type(connection)}[]"
                       for column in columns)
    sets = ", ".join(f"{q(column.column)} = v.{name}" for column, name in zip(columns[1:], names[1:]))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {q(table)} SET {sets} FROM unnest({unnest}) AS v({', '.join(names)}) "
            f"WHERE {q(table)}.{q(pk.column)} = v.c0",
            arrays,
        )


def _rows_insert(model, fields: list[str], rows: list[tuple]) -> list[int]:
    """Insert rows (values for `fields`, every other column its model default) and return their ids in order.

    `bulk_create` elsewhere; on PostgreSQL one `INSERT … SELECT FROM unnest(arrays)` built from plain tuples,
    without a model instance per row (the other half of the sweep's profile).
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        return [obj.pk for obj in model.objects.bulk_create([model(**dict(zip(fields, row))) for row in rows])]
    given = [model._meta.get_field(name) for name in fields]
    others = [f for f in model._meta.concrete_fields if not f.primary_key and f not in given]
    columns = given + others
    arrays = [[column.get_db_prep_save(row[i], connection) for row in rows] for i, column in enumerate(given)]
    for column in others:
        value = column.get_db_prep_save(column.get_default(), connection)
        arrays.append([value] * len(rows))
    q = connection.ops.quote_name
    unnest = ", ".join(f"%s::{column.rel_db_type(connection) if column.is_relation else column.db_type(connection)}[]"
                       for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(c.column) for c in columns)}) "
            f"SELECT * FROM unnest({unnest}) RETURNING {q(model._meta.pk.column)}",
            arrays,
        )
        return [row[0] for row in cursor.fetchall()]


def _payouts_enqueue(refund_ids: list[int]) -> None:
    from refunds.payouts import payout_enqueue

    if len(refund_ids) == 1:
        payout_enqueue(refund_ids[0])  # never raises: if the broker is down the payout re-drive finds the refund
        return
    from refunds.tasks import refund_payouts_fan_out

    try:
        # One message per batch keeps the sweep's hand-off off its critical path; the worker sends one
        # payout message per refund from there, so payouts still run (and are claimed) one refund at a time.
        refund_payouts_fan_out.delay(refund_ids)
    except Exception:
        log.exception("could not enqueue the payouts of %d refunds; the re-drive will pick them up", len(refund_ids))


def _wallet_close_with_refund(*, wallet: Wallet, request: WithdrawalRequest, resolution: str, actor, now) -> Refund | None:
    """Refund a locked wallet's principal, let its bonus lapse, close it and end the request as refunded."""
    return _wallets_close_with_refund(pairs=[(wallet, request)], resolution=resolution, actor=actor, now=now)[0]


def _wallets_close_with_refund(
    *, pairs: list[tuple[Wallet, WithdrawalRequest]], resolution: str, actor, now
) -> list[Refund | None]:
    """`_wallet_close_with_refund` for many locked (wallet, request) pairs: the same rows in bulk statements.

    Each request ends refunded with its wallet's principal and bonus; the principal is refunded
    (`refunds_create`) with a refund entry, the bonus lapses with a lapse entry, and the wallet closes.
    """
    refund_kind = LedgerEntry.Kind.EXPIRY_REFUND if resolution == Resolution.EXPIRY else LedgerEntry.Kind.WITHDRAWAL_REFUND
    resolved_by = actor if getattr(actor, "pk", None) else None
    for wallet, request in pairs:
        request.status = Status.REFUNDED
        request.resolution = resolution
        request.resolved_at = now
        request.resolved_by = resolved_by
        request.principal, request.bonus_lapsed = wallet.principal, wallet.bonus
    new = [request for _, request in pairs if request.pk is None]
    existing = [request for _, request in pairs if request.pk is not None]
    if new:
        WithdrawalRequest.objects.bulk_create(new)
    if existing:
        _rows_update(WithdrawalRequest, existing,
                     ["status", "resolution", "resolved_at", "resolved_by", "principal", "bonus_lapsed"])
    refund_items = [
        RefundItem(wallet=wallet, amount=wallet.principal, request=request,
                   kind=Refund.Kind.EXPIRY if resolution == Resolution.EXPIRY else Refund.Kind.WITHDRAWAL)
        for wallet, request in pairs if wallet.principal
    ]
    refund_by_wallet = {refund.wallet_id: refund for refund in refunds_create(items=refund_items)}
    entries = []
    actor_id = resolved_by.pk if resolved_by else None
    for wallet, request in pairs:
        refund = refund_by_wallet.get(wallet.pk)
        if refund is not None:
            entries.append((wallet.pk, refund_kind, -wallet.principal, 0, request.pk, refund.pk, actor_id))
        if wallet.bonus:
            entries.append((wallet.pk, LedgerEntry.Kind.BONUS_LAPSE, 0, -wallet.bonus, request.pk, None, actor_id))
    # Append-only: inserts, never updates.
    _rows_insert(LedgerEntry, ["wallet_id", "kind", "principal_delta", "bonus_delta", "request_id", "refund_id", "actor_id"],
                 entries)
    for wallet, _ in pairs:
        wallet.principal = wallet.bonus = 0
        wallet.status = Wallet.Status.CLOSED
        wallet.closed_at = now
    Wallet.objects.filter(pk__in=[wallet.pk for wallet, _ in pairs]).update(
        principal=0, bonus=0, status=Wallet.Status.CLOSED, closed_at=now
    )
    return [refund_by_wallet.get(wallet.pk) for wallet, _ in pairs]


# --- consumer side -------------------------------------------------------------------------


@dataclass(frozen=True)
class WithdrawalPreview:
    principal: int
    bonus_lapsed: int
    instant: bool
    due_at: datetime | None


def _withdrawal_check(wallet: Wallet, now) -> None:
    if wallet.status == Wallet.Status.CLOSED:
        raise errors.WalletClosed()
    if wallet.status == Wallet.Status.FROZEN:
        raise errors.RequestAlreadyOpen()
    if wallet.is_expired(now):
        raise errors.WalletExpired()
    if wallet.principal <= 0:
        raise errors.NothingToWithdraw()


def withdrawal_preview(*, wallet: Wallet, now=None) -> WithdrawalPreview:
    """What a withdrawal would do now: principal back, bonus that lapses, instant or held until when."""
    now = now or timezone.now()
    _withdrawal_check(wallet, now)
    instant = not wallet.consumed
    return WithdrawalPreview(
        principal=wallet.principal, bonus_lapsed=wallet.bonus, instant=instant,
        due_at=None if instant else now + hold(),
    )


def withdrawal_request(*, wallet: Wallet, actor, now=None) -> WithdrawalRequest:
    """Ask for the unconsumed principal back: refunded at once if nothing was spent, else held (wallet frozen)."""
    now = now or timezone.now()
    with transaction.atomic():
        wallet = wallets_lock([wallet.pk])[wallet.pk]
        if wallet.consumer.user_id != actor.pk:
            raise errors.NotFound()
        _withdrawal_check(wallet, now)
        request = WithdrawalRequest(wallet=wallet, requested_at=now)
        if not wallet.consumed:
            _wallet_close_with_refund(wallet=wallet, request=request, resolution=Resolution.INSTANT, actor=actor, now=now)
            return request
        request.due_at = now + hold()
        request.principal, request.bonus_lapsed = wallet.principal, wallet.bonus
        request.save()
        wallet.status = Wallet.Status.FROZEN
        wallet.save(update_fields=["status"])
        transaction.on_commit(partial(_notify, "withdrawal_held", request.pk))
    return request


def withdrawal_cancel(*, request: WithdrawalRequest, actor, now=None) -> WithdrawalRequest:
    """The consumer withdraws their request: `retained` if the merchant sent a retention message, else `cancelled`."""
    now = now or timezone.now()
    with transaction.atomic():
        wallet, request = _request_lock(request)
        if wallet.consumer.user_id != actor.pk:
            raise errors.NotFound()
        if request.status != Status.PENDING:
            raise errors.RequestNotPending()
        retained = request.retention_messages.exists()
        request.status = Status.RETAINED if retained else Status.CANCELLED
        request.resolved_at = now
        request.resolved_by = actor
        request.save(update_fields=["status", "resolved_at", "resolved_by"])
        wallet.status = Wallet.Status.ACTIVE
        wallet.save(update_fields=["status"])
    return request


# --- merchant side -------------------------------------------------------------------------


def _request_lock(request: WithdrawalRequest) -> tuple[Wallet, WithdrawalRequest]:
    """Lock the request's wallet, then the request, and return both fresh from the database."""
    wallet_id = WithdrawalRequest.objects.values_list("wallet_id", flat=True).get(pk=request.pk)
    wallet = Wallet.objects.select_for_update().select_related("consumer", "store").get(pk=wallet_id)
    request = WithdrawalRequest.objects.select_for_update().get(pk=request.pk)
    return wallet, request


def withdrawal_retention_message(*, request: WithdrawalRequest, actor, message: str) -> RetentionMessage:
    """Merchant staff ask the consumer to keep the allowance (挽留). Only while the request is pending."""
    message = (message or "").strip()
    if not message:
        raise errors.DomainError(gettext_lazy("The message must not be empty."))
    if len(message) > 500:
        raise errors.DomainError(gettext_lazy("The message must be at most 500 characters."))
    with transaction.atomic():
        wallet, request = _request_lock(request)
        store_staff_check(user=actor, store=wallet.store)
        if request.status != Status.PENDING:
            raise errors.RequestNotPending()
        retention = RetentionMessage.objects.create(request=request, author=actor, message=message)
        audit_record(actor=actor, action="retention_message", target=request, store=wallet.store,
                     message=message, account_name=wallet.consumer.account_name)
        transaction.on_commit(partial(_notify, "retention_message", request.pk))
    return retention


def withdrawal_refund(*, request: WithdrawalRequest, actor, now=None) -> WithdrawalRequest:
    """Merchant staff refund a pending request now, before the hold ends (only pending ones: SPEC §4.5)."""
    now = now or timezone.now()
    with transaction.atomic():
        wallet, request = _request_lock(request)
        store_staff_check(user=actor, store=wallet.store)
        if request.status != Status.PENDING:
            raise errors.RequestNotPending()
        refund = _wallet_close_with_refund(wallet=wallet, request=request, resolution=Resolution.MERCHANT, actor=actor, now=now)
        audit_record(actor=actor, action="withdrawal_refund", target=request, store=wallet.store,
                     amount=refund.amount if refund else 0, bonus_lapsed=request.bonus_lapsed,
                     account_name=wallet.consumer.account_name)
        transaction.on_commit(partial(_notify, "refunded", request.pk))
    return request


def withdrawal_admin_refund(*, request: WithdrawalRequest, actor, now=None) -> WithdrawalRequest:
    """An admin refunds a pending request from the Django admin: same rule as staff, audited as admin."""
    if not getattr(actor, "is_staff", False):
        raise errors.NotFound()
    now = now or timezone.now()
    with transaction.atomic():
        wallet, request = _request_lock(request)
        if request.status != Status.PENDING:
            raise errors.RequestNotPending()
        refund = _wallet_close_with_refund(wallet=wallet, request=request, resolution=Resolution.MERCHANT, actor=actor, now=now)
        audit_record(actor=actor, action="admin_withdrawal_refund", target=request, store=wallet.store,
                     amount=refund.amount if refund else 0, bonus_lapsed=request.bonus_lapsed)
        transaction.on_commit(partial(_notify, "refunded", request.pk))
    return request


# --- the scheduled work --------------------------------------------------------------------


def withdrawal_refund_due(*, now=None, batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Refund every pending request whose hold has ended (`resolution=auto`). Returns how many were refunded.

    Batched; each batch is one transaction that locks its wallets with SKIP LOCKED, so two sweeps at once
    (or a sweep racing a consumer or merchant) never block each other and never refund twice: whoever holds
    the wallet lock decides, and the locked status check plus the one-refund-per-request constraint stop a
    second refund. Safe to run any number of times.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.SWEEP_BATCH_SIZE
    done, batches, after_id = 0, 0, 0
    while max_batches is None or batches < max_batches:
        batches += 1
        with transaction.atomic():
            due = list(
                WithdrawalRequest.objects.filter(status=Status.PENDING, due_at__lte=now, pk__gt=after_id)
                .order_by("pk").values_list("pk", "wallet_id")[:batch_size]
            )
            if not due:
                break
            after_id = due[-1][0]
            wallets = {
                w.pk: w for w in Wallet.objects.select_for_update(skip_locked=True)
                .filter(pk__in=[wallet_id for _, wallet_id in due]).order_by("pk")
            }
            requests = list(WithdrawalRequest.objects.select_for_update().filter(
                pk__in=[pk for pk, wallet_id in due if wallet_id in wallets], status=Status.PENDING
            ).order_by("pk"))
            _wallets_close_with_refund(
                pairs=[(wallets[request.wallet_id], request) for request in requests],
                resolution=Resolution.AUTO, actor=None, now=now,
            )
            if requests:
                transaction.on_commit(partial(_notify_many, "refunded", [request.pk for request in requests]))
            done += len(requests)
    return done


def wallet_expire_due(*, now=None, batch_size: int | None = None) -> int:
    """Close every open wallet past `valid_until`: principal refunded, bonus lapses (`resolution=expiry`).

    A pending request on such a wallet ends the same way. Batched with SKIP LOCKED like the sweep.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.SWEEP_BATCH_SIZE
    done, after_id = 0, 0
    while True:
        with transaction.atomic():
            ids = list(
                Wallet.objects.filter(valid_until__lte=now, pk__gt=after_id)
                .exclude(status=Wallet.Status.CLOSED).order_by("pk").values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            after_id = ids[-1]
            wallets = Wallet.objects.select_for_update(skip_locked=True).filter(pk__in=ids).exclude(
                status=Wallet.Status.CLOSED
            ).order_by("pk")
            for wallet in wallets:
                request = (
                    WithdrawalRequest.objects.select_for_update().filter(wallet=wallet, status=Status.PENDING).first()
                    or WithdrawalRequest(wallet=wallet, requested_at=now)
                )
                if wallet.total == 0 and request.pk is None:
                    wallet.status = Wallet.Status.CLOSED
                    wallet.closed_at = now
                    wallet.save(update_fields=["status", "closed_at"])
                    continue
                _wallet_close_with_refund(wallet=wallet, request=request, resolution=Resolution.EXPIRY, actor=None, now=now)
                transaction.on_commit(partial(_notify, "refunded", request.pk))
                done += 1
    return done


def _notify_many(event: str, request_ids: list[int]) -> None:
    """One message for a batch's emails; the worker queues one email task per request from it."""
    from refunds.tasks import withdrawal_notify_fan_out

    try:
        withdrawal_notify_fan_out.delay(event, request_ids)
    except Exception:
        log.exception("could not enqueue the %s emails for %d withdrawal requests", event, len(request_ids))


def _notify(event: str, request_id: int) -> None:
    from refunds.notifications import withdrawal_notify_enqueue

    withdrawal_notify_enqueue(event=event, request_id=request_id)
