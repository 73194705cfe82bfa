"""The payment gateway interface and the sandbox that ships with the product (no network).

A real provider (Alipay, WeChat Pay, JD Pay) plugs in as another class with the same three methods and is
chosen with the `PAYMENT_GATEWAY` setting (a dotted path). Every call carries an idempotency key: sending the
same key twice must never move money twice — that is what lets payouts be retried safely.

The sandbox applies payouts to its own table (`SandboxPayout`, unique by key) in the product's database, so
"applied exactly once" holds and can be counted across worker processes and machines. Its faults are settings:

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
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import connection
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


class SandboxGateway:
    """The provider the product ships with: no network, faults injected from settings."""

    name = "sandbox"

    def __init__(self):
        seed = getattr(settings, "SANDBOX_GATEWAY_SEED", None)
        self._random = random.Random(seed)

    # --- the fault model ---------------------------------------------------------------------

    def _rate_limited(self) -> bool:
        limit = getattr(settings, "SANDBOX_GATEWAY_RATE_LIMIT", 0)
        if limit <= 0:
            return False
        from core.ratelimit import RateLimiter

        # A tenth of a second's worth of calls may arrive together, as a provider's token bucket allows.
        return not RateLimiter("sandbox-gateway", limit, burst=max(limit // 10, 1)).try_acquire()

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
        from core.models import SandboxPayout

        if self._rate_limited():
            return PayoutResult(PayoutOutcome.RATE_LIMITED, error="sandbox: rate limited (429)")
        self._latency()
        fault = self._fault()
        if fault == "failure":
            return PayoutResult(PayoutOutcome.FAILED, error="sandbox: payout declined")
        if fault == "timeout":
            return PayoutResult(PayoutOutcome.UNKNOWN, error="sandbox: timed out")
        # Apply once per key: an insert that does nothing if the key was applied before (by anyone, at any
        # moment); then the applied row is read back only if this call did not write it.
        reference = f"po_{uuid.uuid5(uuid.NAMESPACE_URL, key).hex}"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {SandboxPayout._meta.db_table} (key, payment_reference, amount, reference, created_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING id",
                [key, payment_reference, amount, reference, timezone.now()],
            )
            inserted = cursor.fetchone() is not None
        applied = (SandboxPayout(key=key, payment_reference=payment_reference, amount=amount, reference=reference)
                   if inserted else SandboxPayout.objects.get(key=key))
        if applied.amount != amount or applied.payment_reference != payment_reference:
            return PayoutResult(PayoutOutcome.FAILED, error="sandbox: key reused for a different payout")
        if fault == "lost_answer":
            return PayoutResult(PayoutOutcome.UNKNOWN, error="sandbox: answer lost")
        return PayoutResult(PayoutOutcome.SUCCEEDED, reference=applied.reference)

    def payout_status(self, *, key: str) -> PayoutResult:
        from core.models import SandboxPayout

        if self._rate_limited():
            return PayoutResult(PayoutOutcome.RATE_LIMITED, error="sandbox: rate limited (429)")
        self._latency()
        if self._fault() == "timeout":
            return PayoutResult(PayoutOutcome.UNKNOWN, error="sandbox: status query timed out")
        applied = SandboxPayout.objects.filter(key=key).first()
        if applied is None:
            return PayoutResult(PayoutOutcome.NOT_FOUND)
        return PayoutResult(PayoutOutcome.SUCCEEDED, reference=applied.reference)


def get_gateway() -> Gateway:
    return import_string(getattr(settings, "PAYMENT_GATEWAY", "core.gateway.SandboxGateway"))()
