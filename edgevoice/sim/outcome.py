"""How a simulated connection ends: the exceptions that carry the decision, and their makers."""

from __future__ import annotations

from edgevoice.sim import reasons
from edgevoice.sim.reasons import CloseSpec


class SimClose(Exception):
    """End the session with this close frame."""

    def __init__(self, spec: CloseSpec) -> None:
        super().__init__(spec.detail or spec.reason)
        self.spec = spec


class SimAbort(Exception):
    """End the session by dropping the TCP connection (no close frame)."""


def invalid(detail: str, reason: str = reasons.GENERIC_INVALID) -> SimClose:
    """INVALID_ARGUMENT (1007) with the service's generic text unless another is known."""
    return SimClose(CloseSpec(reasons.INVALID_ARGUMENT, reason, detail))


def vad_violation(detail: str) -> SimClose:
    """A realtimeInput activity rule broken (section 3.2; code and text unverified)."""
    return SimClose(CloseSpec(reasons.VAD_RULE_CODE, reasons.VAD_RULE_REASON, detail))


def aborted(detail: str) -> SimClose:
    """1008 "The operation was aborted." (sections 3.2, 6.2, 6.4)."""
    return SimClose(CloseSpec(reasons.ABORTED, reasons.OPERATION_ABORTED, detail))
