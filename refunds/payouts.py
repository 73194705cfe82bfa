"""Paying committed refunds out through the gateway (SPEC §5): after commit, idempotently by key, retried.

The database is the source of truth for what is owed; broker messages only say "look at refund N now".
A worker first *claims* the refund with one conditional UPDATE (status processing, attempt due), which
also counts the attempt and leases the refund for `PAYOUT_LEASE_SECONDS`; a duplicate message, a second
worker or a beat re-drive finds nothing to claim and does nothing. The gateway key is derived from the
refund and the payment, so a resend is the same payout; and once a payout has been sent its outcome is
*asked* (`payout_status`) before anything is sent again, so an unknown outcome (timeout, lost answer,
killed worker) is never paid a second time.

Payout calls are I/O: they run on a thread-pool worker of their own queue (`PAYOUT_QUEUE`, `PAYOUT_CONCURRENCY`
calls in flight per worker process), and every call to the gateway first takes a slot from one limiter shared by
all workers (`PAYOUT_RATE_LIMIT` per second, refunds/ratelimit.py), so a backlog drains at the provider's allowed
rate. If the provider still answers 429 (RATE_LIMITED: refused unread), the attempt is given back — it does not
count toward needs attention — and the refund is looked at again a moment later. See docs/perf.md.
"""
import logging
import random
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core import errors
from allowance.services import audit_record
from core.gateway import PayoutOutcome, get_gateway
from refunds.locks import refund_lock
from refunds.models import Refund, RefundAllocation
from core.ratelimit import payout_limiter

log = logging.getLogger(__name__)
PayoutStatus = Refund.PayoutStatus


def payout_key(allocation: RefundAllocation) -> str:
    """The gateway idempotency key: the refund id and the payment it goes back to, never anything random."""
    return f"refund-{allocation.refund_id}-payment-{allocation.payment_id}"


def payout_backoff(attempt: int, *, rng=random) -> timedelta:
    """Exponential backoff with jitter: base·2^(attempt−1), capped, then a random point in its upper half.

    The jitter spreads retries of many refunds that failed together (a provider outage) over time.
    """
    base = settings.PAYOUT_BACKOFF_BASE_SECONDS
    ceiling = min(settings.PAYOUT_BACKOFF_MAX_SECONDS, base * (2 ** max(attempt - 1, 0)))
    return timedelta(seconds=ceiling / 2 + rng.uniform(0, ceiling / 2))


def _claim(refund_id: int, now: datetime) -> bool:
    lease = now + timedelta(seconds=settings.PAYOUT_LEASE_SECONDS)
    return bool(
        Refund.objects.filter(pk=refund_id, payout_status=PayoutStatus.PROCESSING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(payout_attempts=F("payout_attempts") + 1, next_attempt_at=lease)
    )


def _allocation_pay(gateway, allocation: RefundAllocation, now: datetime, limiter):
    """Pay one part of a refund, or learn that it was paid. Returns the gateway's last answer."""
    key = payout_key(allocation)
    if allocation.payout_requested_at is not None:
        # Sent before: the answer may have been lost, or the worker died after sending. Ask first.
        limiter.wait()
        status = gateway.payout_status(key=key)
        if status.outcome != PayoutOutcome.NOT_FOUND:
            return status  # SUCCEEDED (it was applied), UNKNOWN (ask again later; never resend blind), RATE_LIMITED
        sent_before = True
    else:
        # Committed before the call, so whoever comes next knows it may have reached the provider.
        RefundAllocation.objects.filter(pk=allocation.pk).update(payout_requested_at=now)
        sent_before = False
    limiter.wait()
    result = gateway.payout(key=key, payment_reference=allocation.payment.gateway_reference, amount=allocation.amount)
    if result.outcome == PayoutOutcome.RATE_LIMITED and not sent_before:
        # Refused unread: it never reached the provider, so the next attempt need not ask about it first.
        RefundAllocation.objects.filter(pk=allocation.pk).update(payout_requested_at=None)
    return result


def refund_payout_execute(*, refund_id: int, now: datetime | None = None) -> str:
    """Make one payout attempt for a refund if one is due; safe to call any number of times, anywhere.

    Returns what happened: "succeeded", "retry", "needs_attention", "rate_limited" (the provider refused the
    call with 429; tried again soon, no attempt spent), or "skipped" when there was nothing to claim (already
    paid, not due yet, or another worker holds it).
    """
    now = now or timezone.now()
    if not _claim(refund_id, now):
        return "skipped"
    gateway = get_gateway()
    limiter = payout_limiter()
    error, rate_limited = "", False
    allocations = RefundAllocation.objects.select_related("payment").filter(refund_id=refund_id, gateway_reference="")
    for allocation in allocations.order_by("pk"):
        try:
            result = _allocation_pay(gateway, allocation, now, limiter)
        except Exception as exc:  # a provider SDK raising is an unknown outcome like any other
            log.exception("payout of refund %s: gateway call raised", refund_id)
            error = f"{type(exc).__name__}: {exc}"[:200]
            break
        if result.outcome != PayoutOutcome.SUCCEEDED:
            error = (result.error or result.outcome.value)[:200]
            rate_limited = result.outcome == PayoutOutcome.RATE_LIMITED
            break
        RefundAllocation.objects.filter(pk=allocation.pk).update(gateway_reference=result.reference)
    return _attempt_finish(refund_id=refund_id, error=error, now=now, rate_limited=rate_limited)


def _attempt_finish(*, refund_id: int, error: str, now: datetime, rate_limited: bool = False) -> str:
    if not error:
        # Every part paid (the common case): one conditional UPDATE instead of lock, read, check and write. It
        # only matches while the refund is still processing and no part of it is left unpaid.
        paid = Refund.objects.filter(pk=refund_id, payout_status=PayoutStatus.PROCESSING).exclude(
            allocations__gateway_reference="").update(payout_status=PayoutStatus.SUCCEEDED, paid_at=now,
                                                      next_attempt_at=None, last_error="")
        if paid:
            return "succeeded"
    with transaction.atomic():
        refund = refund_lock(id=refund_id)
        if refund.payout_status != PayoutStatus.PROCESSING:
            return refund.payout_status
        if not refund.allocations.filter(gateway_reference="").exists():
            refund.payout_status = PayoutStatus.SUCCEEDED
            refund.paid_at = now
            refund.next_attempt_at = None
            refund.last_error = ""
            refund.save(update_fields=["payout_status", "paid_at", "next_attempt_at", "last_error"])
            return "succeeded"
        refund.last_error = error
        if rate_limited:
            # The provider refused the call unread (429): nothing failed, so the attempt is given back and the
            # refund is looked at again in a moment, spread out so the retries do not arrive together.
            refund.payout_attempts = max(refund.payout_attempts - 1, 0)
            refund.next_attempt_at = now + timedelta(
                seconds=settings.PAYOUT_RATE_LIMITED_RETRY_SECONDS * random.uniform(1, 2))
            refund.save(update_fields=["payout_attempts", "next_attempt_at", "last_error"])
            transaction.on_commit(partial(payout_enqueue, refund.pk, eta=refund.next_attempt_at))
            return "rate_limited"
        if refund.payout_attempts >= settings.PAYOUT_MAX_ATTEMPTS:
            refund.payout_status = PayoutStatus.NEEDS_ATTENTION
            refund.next_attempt_at = None
            refund.save(update_fields=["payout_status", "next_attempt_at", "last_error"])
            log.warning("payout of refund %s needs attention after %s attempts: %s", refund_id,
                        refund.payout_attempts, error)
            return "needs_attention"
        refund.next_attempt_at = now + payout_backoff(refund.payout_attempts)
        refund.save(update_fields=["next_attempt_at", "last_error"])
        transaction.on_commit(partial(payout_enqueue, refund.pk, eta=refund.next_attempt_at))
    return "retry"


def payout_enqueue(refund_id: int, eta: datetime | None = None) -> None:
    """Ask a worker to look at a refund (now, or at `eta`). Losing this message only delays the payout."""
    from refunds.tasks import refund_payout

    try:
        refund_payout.apply_async((refund_id,), eta=eta)
    except Exception:
        # The broker is down: the refund is committed and the re-drive will find it. Never fail the caller.
        log.exception("could not enqueue the payout of refund %s; the re-drive will pick it up", refund_id)


def refund_payouts_redrive(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send again the payouts whose message is overdue: lost, dropped with a dead worker, or never sent.

    Returns how many were enqueued. Enqueuing one twice is harmless: only one attempt can claim it.
    """
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.PAYOUT_STUCK_SECONDS)
    ids = list(
        Refund.objects.filter(payout_status=PayoutStatus.PROCESSING)
        .filter(Q(next_attempt_at__lte=stuck_before) | Q(next_attempt_at__isnull=True, created_at__lte=stuck_before))
        .order_by("pk").values_list("pk", flat=True)[:limit]
    )
    for refund_id in ids:
        payout_enqueue(refund_id)
    if ids:
        log.info("re-drove %s payout(s) whose message was overdue", len(ids))
    return len(ids)


def refund_payout_retry(*, refund: Refund, actor) -> Refund:
    """An admin sends a payout that needs attention again, with a fresh set of attempts (audited).

    The key is unchanged and anything sent before is asked about first, so a retry never pays twice.
    """
    if not getattr(actor, "is_staff", False):
        raise errors.NotFound()
    with transaction.atomic():
        refund = refund_lock(id=refund.pk)
        if refund.payout_status != PayoutStatus.NEEDS_ATTENTION:
            raise errors.PayoutNotRetryable()
        previous_attempts, previous_error = refund.payout_attempts, refund.last_error
        refund.payout_status = PayoutStatus.PROCESSING
        refund.payout_attempts = 0
        refund.next_attempt_at = None
        refund.save(update_fields=["payout_status", "payout_attempts", "next_attempt_at"])
        audit_record(
            actor=actor, action="payout_retry", target=refund, store=refund.wallet.store, amount=refund.amount,
            previous_attempts=previous_attempts, previous_error=previous_error,
        )
        transaction.on_commit(partial(payout_enqueue, refund.pk))
    return refund
