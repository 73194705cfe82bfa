"""Paying committed refunds out through the gateway (SPEC §5): after commit, idempotently by key, retried.

The database is the source of truth for what is owed; broker messages only say "look at refunds N, M… now".
A worker first *claims* the refunds with one conditional UPDATE (status processing, attempt due, SKIP LOCKED),
which also counts the attempt and leases each refund for `PAYOUT_LEASE_SECONDS`; a duplicate message, a second
worker or a beat re-drive finds nothing to claim and does nothing. The gateway key is the part's own UUID,
stored with it (`payout_key`), so a resend is the same payout and no other part can ever have it; once a payout
has been sent its outcome is *asked* (`payout_status_batch`) before anything is sent again, so an unknown
outcome (timeout, lost answer, killed worker) is never paid a second time. Before a part is sent, the provider
is asked how much of its payment it has refunded (`payment_refunded_batch`): a part that would take a payment
past what it paid is never sent (`_within_payments`; issue 20: a refund a failover made us forget, made again).

Payouts travel in batches: a sweep's refunds arrive as one message on the payout queue (`PAYOUT_QUEUE`), whose
thread-pool worker pays them `PAYOUT_BATCH_SIZE` at a time with one batch call to the gateway; `PAYOUT_CONCURRENCY`
batches are in flight per worker process. Every batch of k first takes k slots from one limiter shared by all
workers (`PAYOUT_RATE_LIMIT` per second, core/ratelimit.py), so a backlog drains at the provider's allowed rate.
Claim, bookkeeping and finish are a few statements per batch, not per payout (docs/perf.md, "Settlement"). If the
provider still answers 429 (RATE_LIMITED: refused unread), the attempt is given back — it does not count toward
needs attention — and the refund is looked at again a moment later.
"""
import logging
import random
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import errors
from allowance.services import audit_record
from core.bulk import rows_update
from core.gateway import PayoutItem, PayoutOutcome, PayoutResult, RefundedResult, get_gateway
from refunds.locks import refund_lock, refund_payouts_claim, refund_payouts_paid_finish
from refunds.models import Refund, RefundAllocation
from core.ratelimit import payout_limiter

log = logging.getLogger(__name__)
PayoutStatus = Refund.PayoutStatus


def payout_key(allocation: "RefundAllocation | _Part") -> str:
    """The gateway idempotency key: the part's own UUID, drawn once when the part was written and stored with it,
    so every resend is the same payout, and no later part can ever have it — not even one that reuses the ids
    of a part a failover lost. Parts written before the UUID existed keep the key they were sent with."""
    if allocation.payout_uuid is not None:
        return f"payout-{allocation.payout_uuid.hex}"
    return f"refund-{allocation.refund_id}-payment-{allocation.payment_id}"


def payout_backoff(attempt: int, *, rng=random) -> timedelta:
    """Exponential backoff with jitter: base·2^(attempt−1), capped, then a random point in its upper half.

    The jitter spreads retries of many refunds that failed together (a provider outage) over time.
    """
    base = settings.PAYOUT_BACKOFF_BASE_SECONDS
    ceiling = min(settings.PAYOUT_BACKOFF_MAX_SECONDS, base * (2 ** max(attempt - 1, 0)))
    return timedelta(seconds=ceiling / 2 + rng.uniform(0, ceiling / 2))


class _Part(NamedTuple):
    """One allocation of a claimed refund that is not paid yet."""

    id: int
    refund_id: int
    payment_id: int
    amount: int
    requested_at: datetime | None
    payment_reference: str
    payout_uuid: "uuid.UUID | None"
    payment_amount: int

    @property
    def key(self) -> str:
        return payout_key(self)


def _gateway_call(call, args: list, refund_ids) -> list[PayoutResult]:
    try:
        results = call(args)
        if len(results) != len(args):
            raise ValueError(f"{len(results)} answers for {len(args)} items")
        return results
    except Exception as exc:  # a provider SDK raising is an unknown outcome like any other
        log.exception("payout of refunds %s: gateway call raised", list(refund_ids))
        return [PayoutResult(PayoutOutcome.UNKNOWN, error=f"{type(exc).__name__}: {exc}"[:200])] * len(args)


def _parts_pay(parts: list[_Part], now: datetime) -> dict[int, PayoutResult]:
    """Pay these parts, or learn that they were paid: at most one status batch and one payout batch, each after
    its slots from the shared limiter. Returns the gateway's last answer for each part (by allocation id)."""
    gateway, limiter = get_gateway(), payout_limiter()
    refund_ids = sorted({part.refund_id for part in parts})
    answers: dict[int, PayoutResult] = {}
    # Sent before: the answer may have been lost, or the worker died after sending. Ask first, never resend blind.
    asked = [part for part in parts if part.requested_at is not None]
    send = [part for part in parts if part.requested_at is None]
    if asked:
        limiter.wait(len(asked))
        for part, status in zip(asked, _gateway_call(gateway.payout_status_batch, [p.key for p in asked], refund_ids)):
            if status.outcome == PayoutOutcome.NOT_FOUND:
                send.append(part)
            else:
                answers[part.id] = status  # SUCCEEDED (applied), UNKNOWN (ask again later), RATE_LIMITED
    if send:
        send = _within_payments(send, answers, gateway, refund_ids)
    first_time = {part.id for part in send if part.requested_at is None}
    if first_time:
        # Committed before the call, so whoever comes next knows these may have reached the provider.
        RefundAllocation.objects.filter(pk__in=first_time).update(payout_requested_at=now)
    if send:
        limiter.wait(len(send))
        items = [PayoutItem(key=p.key, payment_reference=p.payment_reference, amount=p.amount) for p in send]
        answers.update((part.id, result) for part, result in zip(send, _gateway_call(gateway.payout_batch, items,
                                                                                   refund_ids)))
        unread = [pk for pk in first_time if answers[pk].outcome == PayoutOutcome.RATE_LIMITED]
        if unread:
            # Refused unread: they never reached the provider, so the next attempt need not ask about them first.
            RefundAllocation.objects.filter(pk__in=unread).update(payout_requested_at=None)
    paid = [(part.id, answers[part.id].reference) for part in parts
            if answers[part.id].outcome == PayoutOutcome.SUCCEEDED]
    rows_update(RefundAllocation, ["gateway_reference"], paid)
    return answers


OVER_REFUND = "over-refund"  # the start of last_error on a part held back by `_within_payments`


def _within_payments(send: list[_Part], answers: dict[int, PayoutResult], gateway, refund_ids) -> list[_Part]:
    """The parts about to be sent that keep each payment within what it paid, by the provider's own count.

    The provider is asked how much of each payment it has refunded (one batch call); a part that would take its
    payment past the payment's amount is not sent: it fails with an OVER_REFUND error and its refund goes to needs
    attention at once (reconcile counts it). Our own books cannot stop that case alone: it is a refund the
    database does not remember — a transaction lost in a failover after its payout went out — made again. When
    the provider does not answer, nothing is sent this attempt. A balance query is not a transfer: it takes no
    slot of the payout rate limit (providers meter queries apart)."""
    references = sorted({part.payment_reference for part in send})
    try:
        refunded = gateway.payment_refunded_batch(references)
        if len(refunded) != len(references):
            raise ValueError(f"{len(refunded)} answers for {len(references)} payments")
    except Exception as exc:  # an SDK raising: nothing known, nothing sent
        log.exception("payout of refunds %s: refunded-total query raised", list(refund_ids))
        refunded = [RefundedResult(PayoutOutcome.UNKNOWN, error=f"{type(exc).__name__}: {exc}"[:200])] * len(references)
    by_reference = dict(zip(references, refunded))
    allowed = []
    for part in send:
        answer = by_reference[part.payment_reference]
        if answer.outcome == PayoutOutcome.RATE_LIMITED:
            answers[part.id] = PayoutResult(PayoutOutcome.RATE_LIMITED, error=answer.error)
        elif answer.outcome != PayoutOutcome.SUCCEEDED:
            # Definitely not sent, so FAILED (a retry with backoff), not UNKNOWN.
            answers[part.id] = PayoutResult(PayoutOutcome.FAILED,
                                            error=f"refunded total unknown: {answer.error or answer.outcome.value}")
        elif answer.amount + part.amount > part.payment_amount:
            answers[part.id] = PayoutResult(PayoutOutcome.FAILED, error=(
                f"{OVER_REFUND}: payment {part.payment_id} paid {part.payment_amount}, the gateway has refunded "
                f"{answer.amount}; this part of {part.amount} would exceed it"))
        else:
            # Two parts of one payment in one batch: the second sees the first as refunded.
            by_reference[part.payment_reference] = RefundedResult(PayoutOutcome.SUCCEEDED, answer.amount + part.amount)
            allowed.append(part)
    return allowed


def refund_payouts_execute(*, refund_ids: list[int], now: datetime | None = None) -> dict[int, str]:
    """Make one payout attempt for each of these refunds that is due; safe to call any number of times, anywhere.

    The due ones are claimed in one statement, their unpaid parts go to the gateway as one batch (status queries
    first for parts sent before), and the paid refunds are finished in one statement; only a refund that did not
    get paid takes the locked path of its own. Returns what happened to each refund: "succeeded", "retry",
    "needs_attention", "rate_limited" (the provider refused the call with 429; tried again soon, no attempt
    spent), or "skipped" when there was nothing to claim (already paid, not due yet, or another worker holds it).
    """
    now = now or timezone.now()
    outcomes = dict.fromkeys(refund_ids, "skipped")
    claimed = refund_payouts_claim(ids=refund_ids, now=now,
                                   lease_until=now + timedelta(seconds=settings.PAYOUT_LEASE_SECONDS))
    if not claimed:
        return outcomes
    parts = [_Part(*row) for row in RefundAllocation.objects.filter(refund_id__in=claimed, gateway_reference="")
             .order_by("refund_id", "pk")
             .values_list("pk", "refund_id", "payment_id", "amount", "payout_requested_at",
                          "payment__gateway_reference", "payout_uuid", "payment__amount")]
    answers = _parts_pay(parts, now) if parts else {}
    unpaid: dict[int, PayoutResult] = {}
    for part in parts:
        answer = answers[part.id]
        # The answer that decides the refund's fate: a part held back for over-refund outranks a retryable one.
        if answer.outcome != PayoutOutcome.SUCCEEDED and (
                part.refund_id not in unpaid or answer.error.startswith(OVER_REFUND)):
            unpaid[part.refund_id] = answer
    # Every part paid (the common case): one conditional UPDATE instead of a lock, read, check and write per refund.
    paid = refund_payouts_paid_finish(ids=[rid for rid in claimed if rid not in unpaid], now=now)
    outcomes.update(dict.fromkeys(paid, "succeeded"))
    for refund_id in claimed:
        if outcomes[refund_id] == "succeeded":
            continue
        answer = unpaid.get(refund_id)
        outcomes[refund_id] = _attempt_finish(
            refund_id=refund_id, error=(answer.error or answer.outcome.value)[:200] if answer else "", now=now,
            rate_limited=answer is not None and answer.outcome == PayoutOutcome.RATE_LIMITED)
    return outcomes


def payout_batch_size() -> int:
    """Payouts per gateway call: `PAYOUT_BATCH_SIZE`, but never more than a twentieth of a second's worth of
    `PAYOUT_RATE_LIMIT`, so that in any one second at most one small batch goes beyond the rate (a batch is
    applied at once, then the limiter holds the next one back for its whole length)."""
    size = settings.PAYOUT_BATCH_SIZE
    if settings.PAYOUT_RATE_LIMIT > 0:
        size = min(size, int(settings.PAYOUT_RATE_LIMIT / 20))
    return max(size, 1)


def refund_payouts_pay(*, refund_ids: list[int]) -> int:
    """Pay out a message's refunds in gateway batches (`payout_batch_size`); returns how many were paid."""
    size = payout_batch_size()
    paid = 0
    for start in range(0, len(refund_ids), size):
        outcomes = refund_payouts_execute(refund_ids=refund_ids[start:start + size])
        paid += sum(outcome == "succeeded" for outcome in outcomes.values())
    return paid


def refund_payout_execute(*, refund_id: int, now: datetime | None = None) -> str:
    """`refund_payouts_execute` for one refund: what happened to it."""
    return refund_payouts_execute(refund_ids=[refund_id], now=now)[refund_id]


def _attempt_finish(*, refund_id: int, error: str, now: datetime, rate_limited: bool = False) -> str:
    """The locked path of one claimed refund the batch did not finish: paid after all, a retry with backoff, a
    429 given back, or needs attention."""
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
            transaction.on_commit(partial(payout_enqueue, [refund.pk], eta=refund.next_attempt_at))
            return "rate_limited"
        if refund.payout_attempts >= settings.PAYOUT_MAX_ATTEMPTS or error.startswith(OVER_REFUND):
            refund.payout_status = PayoutStatus.NEEDS_ATTENTION
            refund.next_attempt_at = None
            refund.save(update_fields=["payout_status", "next_attempt_at", "last_error"])
            log.warning("payout of refund %s needs attention after %s attempts: %s", refund_id,
                        refund.payout_attempts, error)
            return "needs_attention"
        refund.next_attempt_at = now + payout_backoff(refund.payout_attempts)
        refund.save(update_fields=["next_attempt_at", "last_error"])
        transaction.on_commit(partial(payout_enqueue, [refund.pk], eta=refund.next_attempt_at))
    return "retry"


def payout_enqueue(refund_ids: list[int], eta: datetime | None = None) -> None:
    """Ask a payout worker to look at these refunds (now, or at `eta`), in one message: a sweep batch's refunds
    travel together and are paid in gateway batches of `PAYOUT_BATCH_SIZE`. Losing it only delays the payouts."""
    from refunds.tasks import refund_payouts

    try:
        refund_payouts.apply_async((list(refund_ids),), eta=eta)
    except Exception:
        # The broker is down: the refunds are committed and the re-drive will find them. Never fail the caller.
        log.exception("could not enqueue the payouts of refunds %s; the re-drive will pick them up",
                      list(refund_ids)[:20])


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
    if ids:
        payout_enqueue(ids)
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
        transaction.on_commit(partial(payout_enqueue, [refund.pk]))
    return refund
