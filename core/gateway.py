"""The payment gateway interface and the sandbox that ships with the product (no network).

A real provider (Alipay, WeChat Pay, JD Pay) plugs in as another class with the same methods and is chosen with
the `PAYMENT_GATEWAY` setting (a dotted path). Every payout carries an idempotency key: sending the same key twice
must never move money twice — that is what lets payouts be retried safely.

Payouts go out in batches (`payout_batch`, `payout_status_batch`: one answer per item, in order), as the
providers' batch transfer calls take them; a batch of k counts as k against the provider's rate limit. A provider
without a batch call inherits `OneByOneBatches`, which sends the items as single calls from a few threads.

The sandbox applies payouts to its own table (`SandboxPayout`, unique by key) in a database of its own (the
`gateway` alias, core/db.py), outside the money database as a real provider's books are: its rows commit on their
own and survive whatever becomes of ours. "Applied exactly once" holds and can be counted across processes. Its faults are settings:

- `SANDBOX_GATEWAY_LATENCY_MS`: how long every call takes;
- `SANDBOX_GATEWAY_FAILURE_RATE`: the provider declines; nothing was applied (safe to retry);
- `SANDBOX_GATEWAY_TIMEOUT_RATE`: no answer in time; here the request never reached the provider,
  but the caller cannot know that — the outcome is unknown;
- `SANDBOX_GATEWAY_LOST_ANSWER_RATE`: the payout was applied but the answer was lost — also unknown;
- `SANDBOX_GATEWAY_RATE_LIMIT`: calls per second the provider accepts (0: no limit), counted across every
  process; a call beyond it is refused before anything happens, as a provider answers HTTP 429.
"""
import enum
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import connections, router
from django.utils import timezone
from django.utils.module_loading import import_string


class PayoutOutcome(enum.Enum):
    SUCCEEDED = "succeeded"  # applied; `reference` is the provider's id for it
    FAILED = "failed"  # definitely not applied (declined)
    UNKNOWN = "unknown"  # timeout or lost answer: it may or may not have been applied — ask again
    NOT_FOUND = "not_found"  # status query only: the provider has never applied this key
    RATE_LIMITED = "rate_limited"  # refused unread (HTTP 429): nothing was applied or looked up; call again later


@dataclass(frozen=True)
class PayoutResult:
    outcome: PayoutOutcome
    reference: str = ""
    error: str = ""


@dataclass(frozen=True)
class PayoutItem:
    key: str  # the idempotency key: the same key is applied at most once, ever
    payment_reference: str  # the original payment the money goes back to
    amount: int  # fen


@dataclass(frozen=True)
class RefundedResult:
    """The provider's answer to "how much of this payment have you refunded?": SUCCEEDED with `amount` (fen, all
    payouts it has applied to the payment), UNKNOWN (no answer) or RATE_LIMITED (refused unread)."""

    outcome: PayoutOutcome
    amount: int = 0
    error: str = ""


@dataclass(frozen=True)
class ChargeResult:
    gateway: str
    reference: str


class Gateway(Protocol):
    name: str

    def charge(self, *, key: str, amount: int) -> ChargeResult:
        """Take a top-up payment of `amount` fen; the same key returns the same payment."""

    def payout(self, *, key: str, payment_reference: str, amount: int) -> PayoutResult:
        """Pay `amount` fen back to the original payment; the same key is applied at most once."""

    def payout_status(self, *, key: str) -> PayoutResult:
        """Ask what became of a payout sent earlier with `key` (SUCCEEDED, NOT_FOUND or UNKNOWN).

        Either call may answer RATE_LIMITED: the provider refused it unread (429); nothing happened."""

    def payout_batch(self, items: list[PayoutItem]) -> list[PayoutResult]:
        """`payout` for many items in one call: one answer per item, in order. A refused call (429) answers
        RATE_LIMITED for every item; a call that raises leaves every item's outcome unknown."""

    def payout_status_batch(self, keys: list[str]) -> list[PayoutResult]:
        """`payout_status` for many keys in one call: one answer per key, in order."""

    def payment_refunded(self, *, payment_reference: str) -> RefundedResult:
        """How much of the payment `payment_reference` the provider has refunded so far, whoever asked for it."""

    def payment_refunded_batch(self, payment_references: list[str]) -> list[RefundedResult]:
        """`payment_refunded` for many payments in one call: one answer per payment, in order."""


class OneByOneBatches:
    """The batch calls for a provider that only has single ones: each item is one call, a few at a time."""

    batch_threads = 8

    def _each(self, call, args: list) -> list[PayoutResult]:
        if len(args) == 1:
            return [call(args[0])]

        def in_thread(arg):
            try:
                return call(arg)
            finally:
                connections.close_all()  # a pool thread's own database connections, if the adapter opened any

        with ThreadPoolExecutor(max_workers=min(self.batch_threads, len(args))) as pool:
            return list(pool.map(in_thread, args))

    def payout_batch(self, items: list[PayoutItem]) -> list[PayoutResult]:
        return self._each(lambda item: self.payout(key=item.key, payment_reference=item.payment_reference,
                                                   amount=item.amount), items)

    def payout_status_batch(self, keys: list[str]) -> list[PayoutResult]:
        return self._each(lambda key: self.payout_status(key=key), keys)

    def payment_refunded_batch(self, payment_references: list[str]) -> list[RefundedResult]:
        return self._each(lambda reference: self.payment_refunded(payment_reference=reference), payment_references)


class SandboxGateway:
    """The provider the product ships with: no network, faults injected from settings, a batch call for payouts
    (one latency per call, faults drawn per item); a single payout is a batch of one."""

    name = "sandbox"

    def __init__(self):
        seed = getattr(settings, "SANDBOX_GATEWAY_SEED", None)
        self._random = random.Random(seed)

    # --- the fault model ---------------------------------------------------------------------

    def _rate_limited(self, count: int = 1) -> bool:
        limit = getattr(settings, "SANDBOX_GATEWAY_RATE_LIMIT", 0)
        if limit <= 0:
            return False
        from core.ratelimit import RateLimiter

        # A tenth of a second's worth of calls may arrive together, as a provider's token bucket allows; a batch
        # of k payouts counts as k.
        return not RateLimiter("sandbox-gateway", limit, burst=max(limit // 10, 1)).try_acquire(count)

    def _latency(self) -> None:
        latency_ms = getattr(settings, "SANDBOX_GATEWAY_LATENCY_MS", 0)
        if latency_ms > 0:
            # ±50% so that concurrent workers interleave the way real calls do.
            time.sleep(latency_ms * self._random.uniform(0.5, 1.5) / 1000)

    def _fault(self) -> str:
        failure = getattr(settings, "SANDBOX_GATEWAY_FAILURE_RATE", 0.0)
        timeout = getattr(settings, "SANDBOX_GATEWAY_TIMEOUT_RATE", 0.0)
        lost = getattr(settings, "SANDBOX_GATEWAY_LOST_ANSWER_RATE", 0.0)
        roll = self._random.random()
        if roll < failure:
            return "failure"
        if roll < failure + timeout:
            return "timeout"
        if roll < failure + timeout + lost:
            return "lost_answer"
        return ""

    # --- the interface -----------------------------------------------------------------------

    def charge(self, *, key: str, amount: int) -> ChargeResult:
        # Top-ups complete at once in the sandbox (SPEC §8); the reference is derived from the key,
        # so the same key always names the same payment.
        return ChargeResult(gateway=self.name, reference=f"pay_{uuid.uuid5(uuid.NAMESPACE_URL, key).hex}")

    def payout(self, *, key: str, payment_reference: str, amount: int) -> PayoutResult:
        return self.payout_batch([PayoutItem(key=key, payment_reference=payment_reference, amount=amount)])[0]

    def payout_status(self, *, key: str) -> PayoutResult:
        return self.payout_status_batch([key])[0]

    def payment_refunded(self, *, payment_reference: str) -> RefundedResult:
        return self.payment_refunded_batch([payment_reference])[0]

    def payout_batch(self, items: list[PayoutItem]) -> list[PayoutResult]:
        from core.models import SandboxPayout

        if self._rate_limited(len(items)):
            return [PayoutResult(PayoutOutcome.RATE_LIMITED, error="sandbox: rate limited (429)")] * len(items)
        self._latency()
        faults = [self._fault() for _ in items]
        # Apply once per key: one insert that does nothing for a key applied before (by anyone, at any moment);
        # the rows this call did not write are read back, so a reused key with other figures is refused.
        apply = [item for item, fault in zip(items, faults) if fault not in ("failure", "timeout")]
        applied = {}  # key: (reference, amount, payment reference) as the provider's books hold it
        if apply:
            table = SandboxPayout._meta.db_table
            references = [f"po_{uuid.uuid5(uuid.NAMESPACE_URL, item.key).hex}" for item in apply]
            # The provider's own database (the `gateway` alias): the row commits there at once, whatever becomes
            # of the caller's transaction, as a real provider's does.
            with connections[router.db_for_write(SandboxPayout)].cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (key, payment_reference, amount, reference, created_at)"
                    " SELECT k, p, a, r, %s FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) AS v(k, p, a, r)"
                    " ON CONFLICT (key) DO NOTHING RETURNING key",
                    [timezone.now(), [i.key for i in apply], [i.payment_reference for i in apply],
                     [i.amount for i in apply], references],
                )
                inserted = {key for (key,) in cursor.fetchall()}
                applied = {item.key: (reference, item.amount, item.payment_reference)
                           for item, reference in zip(apply, references) if item.key in inserted}
                earlier = [item.key for item in apply if item.key not in inserted]
                if earlier:
                    cursor.execute(f"SELECT key, reference, amount, payment_reference FROM {table} WHERE key = ANY(%s)",
                                   [earlier])
                    applied.update((key, (reference, amount, payment)) for key, reference, amount, payment in cursor)
        results = []
        for item, fault in zip(items, faults):
            if fault == "failure":
                results.append(PayoutResult(PayoutOutcome.FAILED, error="sandbox: payout declined"))
            elif fault == "timeout":
                results.append(PayoutResult(PayoutOutcome.UNKNOWN, error="sandbox: timed out"))
            elif applied[item.key][1:] != (item.amount, item.payment_reference):
                results.append(PayoutResult(PayoutOutcome.FAILED, error="sandbox: key reused for a different payout"))
            elif fault == "lost_answer":
                results.append(PayoutResult(PayoutOutcome.UNKNOWN, error="sandbox: answer lost"))
            else:
                results.append(PayoutResult(PayoutOutcome.SUCCEEDED, reference=applied[item.key][0]))
        return results

    def payout_status_batch(self, keys: list[str]) -> list[PayoutResult]:
        from core.models import SandboxPayout

        if self._rate_limited(len(keys)):
            return [PayoutResult(PayoutOutcome.RATE_LIMITED, error="sandbox: rate limited (429)")] * len(keys)
        self._latency()
        faults = [self._fault() for _ in keys]
        applied = dict(SandboxPayout.objects.filter(key__in=keys).values_list("key", "reference"))
        results = []
        for key, fault in zip(keys, faults):
            if fault == "timeout":
                results.append(PayoutResult(PayoutOutcome.UNKNOWN, error="sandbox: status query timed out"))
            elif key in applied:
                results.append(PayoutResult(PayoutOutcome.SUCCEEDED, reference=applied[key]))
            else:
                results.append(PayoutResult(PayoutOutcome.NOT_FOUND))
        return results


    def payment_refunded_batch(self, payment_references: list[str]) -> list[RefundedResult]:
        from django.db.models import Sum

        from core.models import SandboxPayout

        # A balance query, not a transfer: providers meter those apart, so it takes nothing from the payout rate
        # limit (SANDBOX_GATEWAY_RATE_LIMIT); it costs a latency and may time out like any call.
        self._latency()
        if self._fault() == "timeout":
            return [RefundedResult(PayoutOutcome.UNKNOWN, error="sandbox: refunded query timed out")] * len(
                payment_references)
        refunded = dict(SandboxPayout.objects.filter(payment_reference__in=payment_references)
                        .values_list("payment_reference").annotate(s=Sum("amount")))
        return [RefundedResult(PayoutOutcome.SUCCEEDED, amount=refunded.get(reference, 0))
                for reference in payment_references]


def get_gateway() -> Gateway:
    return import_string(getattr(settings, "PAYMENT_GATEWAY", "core.gateway.SandboxGateway"))()
