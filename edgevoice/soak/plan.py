"""What the soak does next, drawn from one seeded RNG: the same seed replays the same choices.

The plan is pure (no I/O): turn kinds, the pauses between turns, which fault comes and when
in the coming turn it strikes. What actually happens depends on the machine's timing too, so a
replay repeats the choices, not every microsecond; the seed is in the report's first line.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class TurnKind(enum.Enum):
    BUTTON = "button"  # `ctl press`, speech into the microphone, `ctl release`
    VOICE = "voice"  # speech alone: the voice trigger opens and ends the turn
    BARGE_IN = "barge-in"  # a turn, then a press while its answer plays, and a new question


class FaultKind(enum.Enum):
    """The faults the soak injects (the simulator's knobs, and the microphone's source)."""

    DROP = "drop"  # TCP dropped without a close frame (the client sees 1006)
    INTERNAL = "1011"  # close 1011 "Internal error encountered."
    ABORTED = "1008-aborted"  # close 1008 "The operation was aborted." (routine, section 6.2)
    UNAVAILABLE = "1011-unavailable"  # close 1011 "The service is currently unavailable."
    GOAWAY = "goaway"  # goAway, then the close at its deadline
    STALL = "stall"  # the server stops answering (the daemon's response watchdog drops it)
    MALFORMED = "malformed"  # a frame that is not JSON
    UNKNOWN = "unknown"  # a message type no client knows
    OVERSIZED = "oversized"  # a frame over the client's 1 MiB limit (it closes 1009)
    REFUSED = "refused"  # the next connection attempts refused (HTTP 503 or 1011 at setup)
    MIC = "mic"  # the microphone's PulseAudio source unloaded, then loaded again


# How often each fault is drawn (the routine ones the service really sends, more often).
FAULT_WEIGHTS: dict[FaultKind, int] = {
    FaultKind.DROP: 3,
    FaultKind.INTERNAL: 2,
    FaultKind.ABORTED: 3,
    FaultKind.UNAVAILABLE: 1,
    FaultKind.GOAWAY: 3,
    FaultKind.STALL: 1,
    FaultKind.MALFORMED: 1,
    FaultKind.UNKNOWN: 1,
    FaultKind.OVERSIZED: 1,
    FaultKind.REFUSED: 2,
    FaultKind.MIC: 2,
}
TURN_WEIGHTS: dict[TurnKind, int] = {TurnKind.BUTTON: 5, TurnKind.VOICE: 4, TurnKind.BARGE_IN: 2}


@dataclass(frozen=True)
class Step:
    """One step: a turn of `kind` after `pause_s`; with `fault`, that fault `fault_at_s` after
    the turn began (before, during or after the speech, while the answer plays, or idle)."""

    number: int
    kind: TurnKind
    pause_s: float
    phrase: int  # which of the soak's phrases is spoken
    fault: FaultKind | None = None
    fault_at_s: float = 0.0
    refusals: int = 0  # REFUSED: how many attempts
    refuse_mode: str = "http"  # REFUSED: http / unavailable
    goaway_s: float = 0.0  # GOAWAY: the timeLeft announced
    mic_gone_s: float = 0.0  # MIC: how long the source stays unloaded
    barge_after_s: float = 0.0  # BARGE_IN: how long the answer plays before the press


class Plan:
    """`Plan(seed).step()` draws the next step. `fault_rate` is the chance a step has a fault;
    `phrases` how many phrases there are to choose from."""

    def __init__(
        self,
        seed: int,
        *,
        fault_rate: float = 0.5,
        phrases: int = 1,
        pause_s: tuple[float, float] = (1.0, 4.0),
        faults: dict[FaultKind, int] | None = None,
    ) -> None:
        if not 0 <= fault_rate <= 1:
            raise ValueError(f"the fault rate is a fraction 0-1, got {fault_rate}")
        self.seed = seed
        self.fault_rate = fault_rate
        self.phrases = max(1, phrases)
        self.pause_s = pause_s
        self.faults = dict(faults if faults is not None else FAULT_WEIGHTS)
        self._rng = random.Random(seed)
        self._count = 0

    def step(self) -> Step:
        rng = self._rng
        self._count += 1
        kind = _weighted(rng, TURN_WEIGHTS)
        pause = round(rng.uniform(*self.pause_s), 2)
        phrase = rng.randrange(self.phrases)
        barge_after = round(rng.uniform(0.3, 1.5), 2) if kind is TurnKind.BARGE_IN else 0.0
        if not self.faults or rng.random() >= self.fault_rate:
            return Step(self._count, kind, pause, phrase, barge_after_s=barge_after)
        fault = _weighted(rng, self.faults)
        return Step(
            self._count,
            kind,
            pause,
            phrase,
            fault=fault,
            # From just before the turn to well into its answer: any phase of a turn.
            fault_at_s=round(rng.uniform(-0.5, 6.0), 2),
            refusals=rng.randint(1, 3) if fault is FaultKind.REFUSED else 0,
            refuse_mode=rng.choice(("http", "unavailable")),
            goaway_s=round(rng.uniform(0.2, 3.0), 2) if fault is FaultKind.GOAWAY else 0.0,
            mic_gone_s=round(rng.uniform(0.5, 2.5), 2) if fault is FaultKind.MIC else 0.0,
            barge_after_s=barge_after,
        )


def _weighted(rng: random.Random, weights: dict[T, int]) -> T:
    items = list(weights)
    return rng.choices(items, [weights[i] for i in items])[0]
