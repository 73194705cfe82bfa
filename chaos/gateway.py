"""The product's sandbox gateway, unchanged, that also writes down each fault it injects.

`make chaos` points PAYMENT_GATEWAY here so its summary can say how many declines, timeouts and lost answers
the payouts went through. Each worker process appends to its own file in CHAOS_FAULT_DIR; nothing is shared,
so counting never depends on the broker or cache that the run is busy breaking.
"""
import os
from pathlib import Path

from core.gateway import SandboxGateway


class CountingSandboxGateway(SandboxGateway):
    def _fault(self) -> str:
        fault = super()._fault()
        folder = os.environ.get("CHAOS_FAULT_DIR")
        if fault and folder:
            with open(Path(folder) / f"gateway-{os.getpid()}.log", "a") as log:
                log.write(fault + "\n")
        return fault


def gateway_faults(folder) -> dict[str, int]:
    """How many faults of each kind every process injected."""
    counts: dict[str, int] = {}
    for path in Path(folder).glob("gateway-*.log"):
        for line in path.read_text().split():
            counts[line] = counts.get(line, 0) + 1
    return counts
