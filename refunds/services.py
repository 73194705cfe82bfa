"""The withdrawal rules (SPEC §4): preview, request, cancel, retention message, refund now, the due sweep and
expiry. Rows are locked through allowance/locks.py and refunds/locks.py in the order of core/locks.py
(wallet → request → payment); refunds are written by refunds/refunds.py."""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan
from django.utils import timezone
from django.utils.translation import gettext_lazy

from core import errors
from allowance.models import LedgerEntry, Wallet
from core.ids import MAX_ID
from core.money import fen_to_yuan
from allowance.services import audit_record, store_actor_check
from allowance.locks import wallets_lock, wallets_lock_skip_locked
from merchants.selectors import store_staff_check
from refunds.models import Refund, RetentionMessage, WithdrawalRequest
from refunds.locks import request_and_wallet_lock, requests_pending_lock, wallet_hold
from refunds.refunds import refund_rows_create
from core.bulk import rows_insert, rows_update
from core.sweeps import sweep_isolated

log = logging.getLogger(__name__)
Status = WithdrawalRequest.Status
Resolution = WithdrawalRequest.Resolution


def hold() -> timedelta:
    return timedelta(seconds=settings.WITHDRAWAL_HOLD_SECONDS)


# --- closing a wallet with a refund ------------------------------------------------------------


def _wallet_close_and_refund(*, wallet: Wallet, request: WithdrawalRequest, resolution: str, actor, now) -> int:
    """Refund a locked wallet's principal, let its bonus lapse, close it and end the (locked or new) request as
    refunded. Returns the principal refunded."""
    resolved_by = actor if getattr(actor, "pk", None) else None
    request.status = Status.REFUNDED
    request.resolution = resolution
    request.resolved_at = now
    request.resolved_by = resolved_by
    request.principal, request.bonus_lapsed = wallet.principal, wallet.bonus
    written = set()
    if request.pk is None:
        request.save()
        written.add(request.pk)
    _close_rows(
        rows=[(wallet.pk, wallet.principal, wallet.bonus, request.pk)], resolution=resolution,
        actor_id=resolved_by.pk if resolved_by else None, now=now, created_at=timezone.now(), requests_written=written,
    )
    refunded = wallet.principal
    wallet.principal = wallet.bonus = 0
    wallet.status = Wallet.Status.CLOSED
    wallet.closed_at = now
    return refunded


def _close_rows(*, rows: list[tuple[int, int, int, int]], resolution: str, actor_id: int | None, now, created_at,
                requests_written: set[int] = frozenset()) -> dict[int, int]:
    """Close locked wallets given as (wallet_id, principal, bonus, request_id), the request locked too.

    Each request ends refunded with its wallet's principal and bonus; the principal is refunded
    (`refund_rows_create`) with a refund entry, the bonus lapses with a lapse entry, and the wallet closes.
    `now` is the resolution time (the caller's clock); `created_at` stamps the new refunds and entries.
    Returns {wallet_id: refund_id} for the wallets that had principal.
    """
    rows_update(WithdrawalRequest, ["status", "resolution", "resolved_at", "resolved_by", "principal", "bonus_lapsed"],
                 [(request_id, Status.REFUNDED, resolution, now, actor_id, principal, bonus)
                  for _, principal, bonus, request_id in rows if request_id not in requests_written])
    kind = Refund.Kind.EXPIRY if resolution == Resolution.EXPIRY else Refund.Kind.WITHDRAWAL
    refunded = [(wallet_id, principal, request_id) for wallet_id, principal, _, request_id in rows if principal]
    refund_ids = dict(zip((wallet_id for wallet_id, _, _ in refunded), refund_rows_create(
        [(wallet_id, principal, kind, request_id, None) for wallet_id, principal, request_id in refunded],
        created_at=created_at,
    )))
    refund_kind = LedgerEntry.Kind.EXPIRY_REFUND if resolution == Resolution.EXPIRY else LedgerEntry.Kind.WITHDRAWAL_REFUND
    entries = []
    for wallet_id, principal, bonus, request_id in rows:
        refund_id = refund_ids.get(wallet_id)
        if refund_id is not None:
            entries.append((wallet_id, refund_kind, -principal, 0, request_id, refund_id, actor_id, created_at))
        if bonus:
            entries.append((wallet_id, LedgerEntry.Kind.BONUS_LAPSE, 0, -bonus, request_id, None, actor_id, created_at))
    # Append-only: inserts, never updates.
    rows_insert(LedgerEntry, ["wallet_id", "kind", "principal_delta", "bonus_delta", "request_id", "refund_id",
                               "actor_id", "created_at"], entries)
    rows_update(Wallet, ["principal", "bonus", "status", "closed_at"],
                 [(row[0], 0, 0, Wallet.Status.CLOSED, now) for row in rows])
    return refund_ids


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


def _seen_principal_check(*, wallet: Wallet, seen_principal: int | None, error: type[errors.DomainError]) -> None:
    """The principal the user saw and confirmed must still be the locked wallet's: else nothing moves, and
    `error` (a 409) gives the new figures, for the page's message and beside the API's `detail`."""
    if seen_principal is not None and seen_principal != wallet.principal:
        figures = {"principal": fen_to_yuan(wallet.principal), "bonus_lapsed": fen_to_yuan(wallet.bonus)}
        raise error(data=figures, **figures)


def withdrawal_request(*, wallet: Wallet | int, actor, now=None, seen_principal: int | None = None
                       ) -> WithdrawalRequest:
    """Ask for the unconsumed principal back: refunded at once if nothing was spent, else held (wallet frozen).

    `wallet` may be given by id (the API has only the id from its URL): it is read once, locked, with the
    actor's ownership checked in the same statement; someone else's wallet is `NotFound`. A consumed wallet is
    held by one statement (`wallet_hold`: lock, checks, freeze and the request's insert, its own transaction
    unless the caller has one open). `seen_principal` is
    the amount the consumer confirmed: if an order paid or returned has changed the principal since, nothing
    moves and `WithdrawalAmountChanged` (409) gives the new figures.
    """
    now = now or timezone.now()
    wallet_id = wallet if isinstance(wallet, int) else wallet.pk
    if not 0 < wallet_id <= MAX_ID:
        raise errors.NotFound()
    # The common case, a consumed wallet held: one statement locks the wallet with every check below in its
    # WHERE, freezes it and writes the request (docs/perf.md). Anything else finds nothing there and takes the
    # locked path, which says why or refunds at once.
    held = wallet_hold(wallet_id=wallet_id, user_id=actor.pk, now=now, due_at=now + hold(),
                       seen_principal=seen_principal)
    if held is not None:
        return held
    with transaction.atomic():
        wallet = wallets_lock(ids=[wallet_id], owner=actor).get(wallet_id)
        if wallet is None:
            raise errors.NotFound()
        _withdrawal_check(wallet, now)
        _seen_principal_check(wallet=wallet, seen_principal=seen_principal, error=errors.WithdrawalAmountChanged)
        if not wallet.consumed:
            request = WithdrawalRequest(wallet=wallet, requested_at=now)
            _wallet_close_and_refund(wallet=wallet, request=request, resolution=Resolution.INSTANT, actor=actor, now=now)
            return request
        # Spent since the first look (a concurrent order): hold it now, with the wallet locked the statement matches.
        held = wallet_hold(wallet_id=wallet_id, user_id=actor.pk, now=now, due_at=now + hold(),
                           seen_principal=seen_principal)
        if held is None:  # the statement's WHERE is these checks: a bug if they ever disagree
            raise RuntimeError(f"wallet {wallet_id} passed the checks under lock but could not be held")
    return held


def withdrawal_cancel(*, request: WithdrawalRequest, actor, now=None) -> WithdrawalRequest:
    """The consumer withdraws their request: `retained` if the merchant sent a retention message, else `cancelled`."""
    now = now or timezone.now()
    with transaction.atomic():
        wallet, request = request_and_wallet_lock(id=request.pk)
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


def withdrawal_retention_message(*, request: WithdrawalRequest, actor, message: str) -> RetentionMessage:
    """Merchant staff ask the consumer to keep the allowance (挽留). Only while the request is pending."""
    message = (message or "").strip()
    if not message:
        raise errors.DomainError(gettext_lazy("The message must not be empty."))
    if len(message) > 500:
        raise errors.DomainError(gettext_lazy("The message must be at most 500 characters."))
    with transaction.atomic():
        wallet, request = request_and_wallet_lock(id=request.pk)
        store_staff_check(user=actor, store=wallet.store)
        if request.status != Status.PENDING:
            raise errors.RequestNotPending()
        retention = RetentionMessage.objects.create(request=request, author=actor, message=message)
        audit_record(actor=actor, action="retention_message", target=request, store=wallet.store,
                     message=message, account_name=wallet.consumer.account_name)
        transaction.on_commit(partial(_notify, "retention_message", request.pk))
    return retention


def withdrawal_refund(*, request: WithdrawalRequest, actor, now=None, seen_principal: int | None = None
                      ) -> WithdrawalRequest:
    """Merchant staff refund a pending request now, before the hold ends (`resolution=merchant`).

    Only pending requests can be refunded this way (SPEC §4.5). `seen_principal` is the amount the staff member
    confirmed: if a return has changed the wallet's principal since, nothing moves and `PrincipalChanged` (409)
    says the new amount.
    """
    return _withdrawal_refund(request=request, actor=actor, now=now, by_admin=False, seen_principal=seen_principal)


def withdrawal_admin_refund(*, request: WithdrawalRequest, actor, now=None, seen_principal: int | None = None
                            ) -> WithdrawalRequest:
    """An admin refunds a pending request from the Django admin: the same rule (the principal the confirmation
    page showed included), audited as `admin_withdrawal_refund`."""
    return _withdrawal_refund(request=request, actor=actor, now=now, by_admin=True, seen_principal=seen_principal)


def _withdrawal_refund(*, request: WithdrawalRequest, actor, now, by_admin: bool, seen_principal: int | None
                       ) -> WithdrawalRequest:
    now = now or timezone.now()
    with transaction.atomic():
        wallet, request = request_and_wallet_lock(id=request.pk)
        store_actor_check(actor=actor, store=wallet.store, by_admin=by_admin)
        if request.status != Status.PENDING:
            raise errors.RequestNotPending()
        _seen_principal_check(wallet=wallet, seen_principal=seen_principal, error=errors.PrincipalChanged)
        refunded = _wallet_close_and_refund(wallet=wallet, request=request, resolution=Resolution.MERCHANT,
                                            actor=actor, now=now)
        audit_record(actor=actor, action="admin_withdrawal_refund" if by_admin else "withdrawal_refund",
                     target=request, store=wallet.store, amount=refunded, bonus_lapsed=request.bonus_lapsed,
                     account_name=wallet.consumer.account_name)
        transaction.on_commit(partial(_notify, "refunded", request.pk))
    return request


def withdrawal_follow_wallet(*, wallet: Wallet, request: WithdrawalRequest, actor, now) -> WithdrawalRequest:
    """A return has just landed in a frozen wallet: its pending request takes the wallet's current principal and
    bonus (every page, the API, the staff email and summary read them from the request), or, if the wallet is
    unconsumed again, it is refunded at once (`resolution=instant`). Called inside the return's transaction
    with the wallet and the request locked."""
    if not wallet.consumed:
        _wallet_close_and_refund(wallet=wallet, request=request, resolution=Resolution.INSTANT, actor=actor, now=now)
        transaction.on_commit(partial(_notify, "refunded", request.pk))
        return request
    request.principal, request.bonus_lapsed = wallet.principal, wallet.bonus
    request.save(update_fields=["principal", "bonus_lapsed"])
    return request


# --- the scheduled work --------------------------------------------------------------------


# --- sweep isolation (SPEC §4.8) -------------------------------------------------------------


def _attention_reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def withdrawal_mark_attention(*, request_id: int, exc: Exception, now) -> None:
    """Mark a request the scheduled job could not resolve, for an admin to look at (it stays pending)."""
    WithdrawalRequest.objects.filter(pk=request_id).update(attention_reason=_attention_reason(exc), attention_at=now)


def wallet_mark_attention(*, wallet_id: int, exc: Exception, now) -> None:
    """Mark a wallet the expiry job could not close, for an admin to look at (it stays open)."""
    Wallet.objects.filter(pk=wallet_id).update(attention_reason=_attention_reason(exc), attention_at=now)


# --- the scheduled work --------------------------------------------------------------------


def _written_at(now: datetime) -> datetime:
    """The time a sweep's batch stamps on what it resolves: the sweep's clock, never before the batch is written.

    A sweep judges what is due by the `now` it started with, but a long one writes its last batches well after
    that; the insights roll-up (refunds/insights.py) keeps everything up to a minute before the oldest open
    transaction, so a batch stamped with the start time could land before a mark already passed and never be
    counted. Taken inside each batch's transaction, so the stamp is never before that transaction began.
    """
    return max(now, timezone.now())


def withdrawal_refund_due(*, now=None, batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Refund every pending request whose hold has ended (`resolution=auto`). Returns how many were refunded.

    Batched; each batch is one transaction that locks its wallets with SKIP LOCKED, so two sweeps at once
    (or a sweep racing a consumer or merchant) never block each other and never refund twice: whoever holds
    the wallet lock decides, and the locked status check plus the one-refund-per-request constraint stop a
    second refund. Safe to run any number of times. A request that cannot be refunded (data that breaks an
    invariant, an unexpected error) is rolled back alone and marked for attention; the rest go on
    (`sweep_isolated`).
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.SWEEP_BATCH_SIZE
    done, batches, after = 0, 0, None
    while max_batches is None or batches < max_batches:
        batches += 1
        with transaction.atomic():
            # Keyset over the partial index `withdrawal_pending_due` (due_at, id) WHERE status = 'pending': each
            # batch starts after the last one's key, so rows skipped (locked) and the index entries of rows just
            # refunded are never read again, and held, cancelled or refunded history is never read at all.
            due = WithdrawalRequest.objects.filter(status=Status.PENDING, due_at__lte=now)
            if after is not None:
                due = due.filter(TupleGreaterThan(Tuple(F("due_at"), F("pk")), after))
            due = list(due.order_by("due_at", "pk").values_list("due_at", "pk", "wallet_id")[:batch_size])
            if not due:
                break
            after = due[-1][:2]
            done += sweep_isolated(
                rows=due, batch=partial(_due_rows_refund, now=now), one=lambda row: _due_rows_refund([row], now=now),
                mark=lambda row, exc: withdrawal_mark_attention(request_id=row[1], exc=exc, now=now),
                what="withdrawal_refund_due",
            )
    return done


def _due_rows_refund(due: list[tuple], *, now) -> int:
    """Refund the due requests given as (due_at, request_id, wallet_id) whose wallets are free to lock."""
    # Lock order: wallets (SKIP LOCKED: whoever holds one decides), then their requests, then payments
    # (in refund_rows_create). Plain tuples, no model instances.
    wallets = dict((pk, (principal, bonus)) for pk, principal, bonus in (
        wallets_lock_skip_locked(ids=[wallet_id for _, _, wallet_id in due])
        .values_list("pk", "principal", "bonus")
    ))
    requests = list(requests_pending_lock(ids=[pk for _, pk, wallet_id in due if wallet_id in wallets]).values_list("pk", "wallet_id"))
    if not requests:
        return 0
    _close_rows(
        rows=[(wallet_id, *wallets[wallet_id], request_id) for request_id, wallet_id in requests],
        resolution=Resolution.AUTO, actor_id=None, now=_written_at(now), created_at=timezone.now(),
    )
    transaction.on_commit(partial(_notify_many, "refunded", [request_id for request_id, _ in requests]))
    return len(requests)


def wallet_expire_due(*, now=None, batch_size: int | None = None, max_batches: int | None = None) -> int:
    """Close every open wallet past `valid_until`: principal refunded, bonus lapses (`resolution=expiry`).

    A pending request on such a wallet ends the same way. Returns how many wallets were refunded (an empty wallet
    without a request is only closed). Batched exactly like the due sweep (`_wallets_expire`), and isolated like
    it: a wallet that cannot be closed is rolled back alone and marked for attention (`sweep_isolated`). Safe to
    run any number of times, and alongside consumers, staff and another expiry run.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.SWEEP_BATCH_SIZE
    done, batches, after = 0, 0, None
    while max_batches is None or batches < max_batches:
        batches += 1
        with transaction.atomic():
            # Keyset over the partial index `wallet_open_by_validity` (valid_until, id) of open wallets: each batch
            # starts after the last one's key, so skipped (locked) wallets and closed history are never read again.
            due = Wallet.objects.filter(valid_until__lte=now).exclude(status=Wallet.Status.CLOSED)
            if after is not None:
                due = due.filter(TupleGreaterThan(Tuple(F("valid_until"), F("pk")), after))
            due = list(due.order_by("valid_until", "pk").values_list("valid_until", "pk")[:batch_size])
            if not due:
                break
            after = due[-1]
            done += sweep_isolated(
                rows=due, batch=partial(_wallets_expire, now=now), one=lambda row: _wallets_expire([row], now=now),
                mark=lambda row, exc: wallet_mark_attention(wallet_id=row[1], exc=exc, now=now),
                what="wallet_expire_due",
            )
    return done


def _wallets_expire(due: list[tuple], *, now) -> int:
    """Expire the wallets given as (valid_until, wallet_id) that are free to lock; returns how many were refunded.

    A constant number of statements whatever the batch size: one lock of the wallets (SKIP LOCKED: a wallet
    someone holds is theirs to decide, and the next run sees it again), one of their pending requests, then bulk
    writes (`_close_rows`) and one after-commit hand-off for the batch's payouts. The consumers' emails are not
    sent from here: each request is its own outbox row (`consumer_notified_at` empty), emailed by the notify job.
    """
    # Lock order as everywhere: wallets (pk order), then their requests, then payments (in refund_rows_create).
    wallets = {pk: (principal, bonus) for pk, principal, bonus in (
        wallets_lock_skip_locked(ids=[pk for _, pk in due], open_only=True).values_list("pk", "principal", "bonus")
    )}
    if not wallets:
        return 0
    now = _written_at(now)  # from here on, the time these wallets close
    pending = {wallet_id: pk for pk, wallet_id in requests_pending_lock(wallet_ids=list(wallets)).values_list(
        "pk", "wallet_id")}
    empty = [wallet_id for wallet_id, (principal, bonus) in wallets.items()
             if principal == 0 and bonus == 0 and wallet_id not in pending]
    # A wallet still holding money without a request gets one, written already ended: refunded at expiry.
    new = [(wallet_id, *wallets[wallet_id]) for wallet_id in wallets if wallet_id not in pending and wallet_id not in empty]
    new_ids = rows_insert(
        WithdrawalRequest, ["wallet_id", "status", "resolution", "principal", "bonus_lapsed", "requested_at", "resolved_at"],
        [(wallet_id, Status.REFUNDED, Resolution.EXPIRY, principal, bonus, now, now) for wallet_id, principal, bonus in new],
    )
    requests = {**pending, **{wallet_id: pk for (wallet_id, _, _), pk in zip(new, new_ids)}}
    closing = sorted(requests)
    _close_rows(
        rows=[(wallet_id, *wallets[wallet_id], requests[wallet_id]) for wallet_id in closing],
        resolution=Resolution.EXPIRY, actor_id=None, now=now, created_at=timezone.now(), requests_written=set(new_ids),
    )
    rows_update(Wallet, ["status", "closed_at"], [(wallet_id, Wallet.Status.CLOSED, now) for wallet_id in empty])
    return len(closing)


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
