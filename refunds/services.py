"""Withdrawal requests and refunds (SPEC §4, §5). Lock order everywhere: wallet → request → payments."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from allowance import errors
from allowance.models import LedgerEntry, Payment, Wallet
from allowance.services import audit_record, ledger_write, wallets_lock
from merchants.selectors import store_staff_check
from refunds.models import RefundAllocation, Refund, RetentionMessage, WithdrawalRequest

Status = WithdrawalRequest.Status
Resolution = WithdrawalRequest.Resolution


def hold() -> timedelta:
    return timedelta(seconds=settings.WITHDRAWAL_HOLD_SECONDS)


# --- refunds -------------------------------------------------------------------------------


def refund_create(*, wallet: Wallet, amount: int, kind: str, request=None, order=None) -> Refund:
    """Commit a refund of `amount` to the wallet's payments, newest first; the payout runs after commit.

    Called inside the caller's transaction with the wallet locked.
    """
    refund = Refund.objects.create(wallet=wallet, amount=amount, kind=kind, request=request, order=order)
    remaining = amount
    payments = Payment.objects.select_for_update().filter(wallet=wallet).order_by("-created_at", "-pk")
    for payment in payments:
        if remaining == 0:
            break
        part = min(payment.refundable, remaining)
        if part <= 0:
            continue
        payment.refunded_amount += part
        payment.save(update_fields=["refunded_amount"])
        RefundAllocation.objects.create(refund=refund, payment=payment, amount=part)
        remaining -= part
    if remaining:
        # Principal can never exceed what was paid and not yet refunded; if it does the data is corrupt.
        raise RuntimeError(f"wallet {wallet.pk}: {remaining} fen of principal has no payment to go back to")
    transaction.on_commit(partial(_payout_enqueue, refund.pk))
    return refund


def _payout_enqueue(refund_id: int) -> None:
    from refunds.payouts import payout_enqueue

    payout_enqueue(refund_id)  # never raises: if the broker is down the payout re-drive finds the refund


def _wallet_close_with_refund(*, wallet: Wallet, request: WithdrawalRequest, resolution: str, actor, now) -> Refund | None:
    """Refund a locked wallet's principal, let its bonus lapse, close it and end the request as refunded."""
    principal, bonus = wallet.principal, wallet.bonus
    refund_kind = LedgerEntry.Kind.EXPIRY_REFUND if resolution == Resolution.EXPIRY else LedgerEntry.Kind.WITHDRAWAL_REFUND
    request.status = Status.REFUNDED
    request.resolution = resolution
    request.resolved_at = now
    request.resolved_by = actor if getattr(actor, "pk", None) else None
    request.principal, request.bonus_lapsed = principal, bonus
    if request.pk is None:
        request.save()
    else:
        request.save(update_fields=["status", "resolution", "resolved_at", "resolved_by", "principal", "bonus_lapsed"])
    refund = None
    if principal:
        refund = refund_create(
            wallet=wallet, amount=principal, request=request,
            kind=Refund.Kind.EXPIRY if resolution == Resolution.EXPIRY else Refund.Kind.WITHDRAWAL,
        )
        ledger_write(wallet=wallet, kind=refund_kind, principal_delta=-principal, bonus_delta=0,
                     request=request, refund=refund, actor=actor)
    if bonus:
        ledger_write(wallet=wallet, kind=LedgerEntry.Kind.BONUS_LAPSE, principal_delta=0, bonus_delta=-bonus,
                     request=request, actor=actor)
    wallet.principal = wallet.bonus = 0
    wallet.status = Wallet.Status.CLOSED
    wallet.closed_at = now
    wallet.save(update_fields=["principal", "bonus", "status", "closed_at"])
    return refund


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
            requests = WithdrawalRequest.objects.select_for_update().filter(
                pk__in=[pk for pk, wallet_id in due if wallet_id in wallets], status=Status.PENDING
            ).order_by("pk")
            for request in requests:
                _wallet_close_with_refund(
                    wallet=wallets[request.wallet_id], request=request, resolution=Resolution.AUTO, actor=None, now=now
                )
                transaction.on_commit(partial(_notify, "refunded", request.pk))
                done += 1
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


def _notify(event: str, request_id: int) -> None:
    from refunds.notifications import withdrawal_notify_enqueue

    withdrawal_notify_enqueue(event=event, request_id=request_id)
