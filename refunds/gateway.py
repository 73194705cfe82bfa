"""The payment gateway interface and the sandbox that ships with the product (no network)."""
import enum
import uuid
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class PayoutOutcome(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PayoutResult:
    outcome: PayoutOutcome
    reference: str = ""
    error: str = ""


class Gateway(Protocol):
    def payout(self, *, key: str, payment_reference: str, amount: int) -> PayoutResult: ...


class SandboxGateway:
    """Applies every payout at once, once per key."""

    def payout(self, *, key: str, payment_reference: str, amount: int) -> PayoutResult:
        return PayoutResult(PayoutOutcome.SUCCEEDED, reference=f"sbx_{uuid.uuid5(uuid.NAMESPACE_URL, key).hex}")


def get_gateway() -> Gateway:
    return import_string(getattr(settings, "PAYMENT_GATEWAY", "refunds.gateway.SandboxGateway"))()
