"""What `edgevoice ctl status` reports: counters and the reply latency. No I/O.

`Counters` are plain numbers the controller bumps; `Latency` keeps the most recent reply
latencies (from the moment the user's turn ended on the wire to the first audio of the answer)
and gives percentiles.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from edgevoice.live.json_view import JsonValue

LATENCY_SAMPLES = 200  # the most recent turns the percentiles are computed over


@dataclass
class Counters:
    turns: int = 0  # user turns begun (button, voice, ctl) since start
    turn_frames: int = 0  # microphone frames that became part of a turn (pre-roll included)
    connections: int = 0  # connections opened
    connect_failures: int = 0  # connection attempts that failed
    connections_lost: int = 0  # connections that ended while something was in progress
    reconnects: int = 0  # new connections the supervisor opened to carry a turn over
    rotations: int = 0  # connections replaced after the server's goAway
    stalls: int = 0  # answers the response watchdog gave up on
    limits_reached: int = 0  # turns ended by limits.max_turn_s or the daily cap
    interruptions: int = 0  # answers cut short (barge-in, interrupted)
    tool_calls: int = 0  # function calls received
    tool_cancellations: int = 0  # calls the server cancelled while they ran


class Latency:
    """The most recent reply latencies, in seconds; `summary()` for the status reply."""

    def __init__(self, keep: int = LATENCY_SAMPLES) -> None:
        self._samples: deque[float] = deque(maxlen=keep)

    def add(self, seconds: float) -> None:
        if math.isfinite(seconds) and seconds >= 0:
            self._samples.append(seconds)

    def __len__(self) -> int:
        return len(self._samples)

    def summary(self) -> dict[str, JsonValue]:
        """{"turns", "p50_ms", "p90_ms", "max_ms"} (the percentiles None before any turn)."""
        ordered = sorted(self._samples)
        if not ordered:
            return {"turns": 0, "p50_ms": None, "p90_ms": None, "max_ms": None}
        return {
            "turns": len(ordered),
            "p50_ms": round(_percentile(ordered, 0.5) * 1000),
            "p90_ms": round(_percentile(ordered, 0.9) * 1000),
            "max_ms": round(ordered[-1] * 1000),
        }


def _percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted samples."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
