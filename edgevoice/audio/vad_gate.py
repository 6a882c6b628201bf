"""The voice trigger's gate: per-frame speech flags in, turn boundaries out. Core: no I/O.

The microphone path feeds every 20 ms frame (16 kHz mono int16) together with the speech flag
webrtcvad gave it (`VoiceGate.feed(frame, speech)`), and acts on the events that come back:

- `Triggered(preroll)`: someone has spoken long enough for a turn. Connect now and send
  `preroll` first: it holds every frame from `preroll_ms` before the onset up to this one, in
  order, so the first syllable, spoken before the gate could know it was speech, is not lost.
- `Speech(frame)`: a frame of the open turn, to send right after the previous one.
- `Ended(reason)`: the turn is over ("silence": `end_ms` of silence; "max_length": the turn
  reached `max_turn_ms`). Close the user turn (activityEnd).
- `Rejected(reason)`: a candidate died before it held `min_utterance_ms` of speech: a cough, a
  door, a clap. Nothing was handed out for it, so nothing was sent and no connection was opened.

Hysteresis, in frames of `frame_ms` (every duration is rounded up to whole frames):

1. Idle: frames go into a pre-roll ring of `preroll_ms`. A run of `onset_ms` of consecutive
   speech frames starts a *candidate*; the run's first frame is the onset.
2. Candidate: frames are held back (nothing leaves the device). It becomes a turn
   (`Triggered`) once it holds `min_utterance_ms` of speech frames in all (pauses shorter than
   `end_ms` do not end it). It dies (`Rejected("too_short")`) after `end_ms` of silence, or when
   it has lasted `min_utterance_ms + end_ms` without enough speech (sporadic noise flagged as
   speech now and then). Its frames then go back into the pre-roll ring as history.
3. Open turn: every frame is handed out as `Speech`, trailing silence included (the gate learns
   that the silence is the end only after `end_ms`). `end_ms` of silence ends it; so does
   `max_turn_ms` counted from the onset (a noisy room, a radio).
4. After `Ended("max_length")` the gate waits for `end_ms` of silence before a new onset can
   count, so a room that never goes quiet does not become an endless series of turns.

Each frame is handed out at most once: after a turn the ring starts empty, so the next turn's
pre-roll never repeats audio that was already sent. `reset()` (half duplex while the device
plays, mute) drops everything, the ring included; an open turn is dropped without an `Ended`
(the caller ends the turn it opened).

`PrerollRing` is the bounded ring the gate keeps its pre-roll in; the button path uses one of
its own to start a turn with the audio from just before the press.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, TypeAlias

FRAME_MS = 20  # ms per frame: what webrtcvad takes at 16 kHz and the microphone path produces
RATE = 16_000  # Hz


class PrerollRing:
    """The most recent frames, at most `preroll_ms` of them (rounded up to whole frames).

    `push(frame)` adds a frame and forgets the oldest one when full; `take()` hands out what is
    held, oldest first, and empties the ring. `preroll_ms=0` keeps nothing.
    """

    __slots__ = ("_frames",)

    def __init__(self, preroll_ms: int, frame_ms: int = FRAME_MS) -> None:
        _check_ms("preroll_ms", preroll_ms, minimum=0)
        _check_ms("frame_ms", frame_ms, minimum=1)
        self._frames: deque[bytes] = deque(maxlen=_frames_in(preroll_ms, frame_ms))

    @property
    def capacity(self) -> int:
        """How many frames the ring holds at most."""
        return self._frames.maxlen or 0

    def push(self, frame: bytes) -> None:
        if self._frames.maxlen:
            self._frames.append(frame)

    def take(self) -> tuple[bytes, ...]:
        """Every frame held, oldest first; the ring is empty afterwards."""
        frames = tuple(self._frames)
        self._frames.clear()
        return frames

    def clear(self) -> None:
        self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)


@dataclass(frozen=True, slots=True)
class Triggered:
    """A turn starts: send `preroll` (every frame from the pre-roll up to now, in order)."""

    preroll: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Speech:
    """The next frame of the open turn."""

    frame: bytes


@dataclass(frozen=True, slots=True)
class Ended:
    """The open turn is over: `end_ms` of silence, or `max_turn_ms` reached."""

    reason: Literal["silence", "max_length"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A candidate died with too little speech in it (a cough, a door); nothing was sent."""

    reason: Literal["too_short"]


GateEvent: TypeAlias = Triggered | Speech | Ended | Rejected


class GateState(enum.Enum):
    IDLE = "idle"  # waiting for an onset; frames fill the pre-roll ring
    CANDIDATE = "candidate"  # an onset was heard; frames held back until it is long enough
    OPEN = "open"  # a turn is open; every frame is handed out
    COOLDOWN = "cooldown"  # after a turn hit max_turn_ms: waiting for end_ms of silence


@dataclass(frozen=True, slots=True)
class GateTiming:
    """The gate's parameters in ms. Each is rounded up to whole frames of `frame_ms`.

    - `onset_ms`: consecutive speech that starts a candidate (>= one frame).
    - `min_utterance_ms`: speech a candidate must hold to become a turn (>= onset_ms).
    - `end_ms`: silence that ends a candidate or a turn (>= one frame).
    - `preroll_ms`: audio kept from before the onset (>= 0).
    - `max_turn_ms`: the longest turn, from the onset (>= min_utterance_ms + end_ms, the
      longest a candidate can last).
    """

    onset_ms: int = 120
    min_utterance_ms: int = 400
    end_ms: int = 800  # manual turns get no server padding: at least 500 ms (protocol doc 3.2)
    preroll_ms: int = 300
    max_turn_ms: int = 30_000
    frame_ms: int = FRAME_MS

    def __post_init__(self) -> None:
        _check_ms("frame_ms", self.frame_ms, minimum=1)
        _check_ms("onset_ms", self.onset_ms, minimum=1)
        _check_ms("min_utterance_ms", self.min_utterance_ms, minimum=1)
        _check_ms("end_ms", self.end_ms, minimum=1)
        _check_ms("preroll_ms", self.preroll_ms, minimum=0)
        _check_ms("max_turn_ms", self.max_turn_ms, minimum=1)
        if self.min_utterance_ms < self.onset_ms:
            raise ValueError(
                f"min_utterance_ms ({self.min_utterance_ms}) is shorter than onset_ms "
                f"({self.onset_ms}); a turn needs at least the onset: raise min_utterance_ms"
            )
        # A candidate lasts up to min_utterance_ms + end_ms; a turn must be able to outlast it.
        if self.frames(self.max_turn_ms) < self.frames(self.min_utterance_ms) + self.frames(
            self.end_ms
        ):
            raise ValueError(
                f"max_turn_ms ({self.max_turn_ms}) must be at least min_utterance_ms + end_ms "
                f"({self.min_utterance_ms} + {self.end_ms})"
            )

    def frames(self, ms: int) -> int:
        return _frames_in(ms, self.frame_ms)


class VoiceGate:
    """Hysteresis over per-frame speech flags, with a pre-roll ring (see the module docstring).

    Not thread-safe; call it from one thread (the event loop). `frame_bytes` is checked on
    every frame: each must hold exactly `frame_ms` of 16 kHz mono int16, since every duration
    here is counted in frames.
    """

    def __init__(self, timing: GateTiming | None = None, rate: int = RATE) -> None:
        self.timing = timing or GateTiming()
        t = self.timing
        if rate <= 0:
            raise ValueError(f"rate must be a positive number of Hz, got {rate}")
        samples = rate * t.frame_ms / 1000
        if samples != int(samples):
            raise ValueError(f"{t.frame_ms} ms is not a whole number of samples at {rate} Hz")
        self.frame_bytes = int(samples) * 2
        self._onset = t.frames(t.onset_ms)
        self._min_speech = t.frames(t.min_utterance_ms)
        self._end = t.frames(t.end_ms)
        self._max_turn = t.frames(t.max_turn_ms)
        self._max_candidate = self._min_speech + self._end
        self._ring = PrerollRing(t.preroll_ms, t.frame_ms)
        self._run: list[bytes] = []  # idle: the current run of speech frames (onset not reached)
        self._held: list[bytes] = []  # candidate: pre-roll + every frame since the onset
        self._state = GateState.IDLE
        self._since_onset = 0  # frames since the onset (candidate and open turn)
        self._speech = 0  # speech frames since the onset
        self._silence = 0  # current run of silent frames

    @property
    def state(self) -> GateState:
        return self._state

    @property
    def in_turn(self) -> bool:
        """A turn is open: `Triggered` was handed out and its `Ended` was not."""
        return self._state is GateState.OPEN

    def feed(self, frame: bytes, speech: bool) -> list[GateEvent]:
        """One frame and its speech flag; the events it causes, in order (often none).

        Raises ValueError for a frame of the wrong length (nothing changes then).
        """
        if len(frame) != self.frame_bytes:
            raise ValueError(
                f"frame has {len(frame)} bytes; the gate takes {self.timing.frame_ms} ms frames "
                f"of {self.frame_bytes} bytes"
            )
        match self._state:
            case GateState.IDLE:
                return self._idle(frame, speech)
            case GateState.CANDIDATE:
                return self._candidate(frame, speech)
            case GateState.OPEN:
                return self._open(frame, speech)
            case GateState.COOLDOWN:
                return self._cooldown(frame, speech)

    def reset(self) -> None:
        """Forget everything: the ring, a run, a candidate, an open turn (no `Ended` is handed
        out for it: the caller ends what it opened). The next frame starts from idle."""
        self._ring.clear()
        self._run.clear()
        self._held.clear()
        self._state = GateState.IDLE
        self._since_onset = self._speech = self._silence = 0

    # ----------------------------------------------------------------------------------------

    def _idle(self, frame: bytes, speech: bool) -> list[GateEvent]:
        if not speech:
            for earlier in self._run:  # a run too short for an onset is history now
                self._ring.push(earlier)
            self._run.clear()
            self._ring.push(frame)
            return []
        self._run.append(frame)
        if len(self._run) < self._onset:
            return []
        self._held = [*self._ring.take(), *self._run]
        self._since_onset = self._speech = len(self._run)
        self._run.clear()
        self._silence = 0
        self._state = GateState.CANDIDATE
        return self._promote_if_long_enough()

    def _candidate(self, frame: bytes, speech: bool) -> list[GateEvent]:
        self._held.append(frame)
        self._since_onset += 1
        if speech:
            self._speech += 1
            self._silence = 0
            return self._promote_if_long_enough()
        self._silence += 1
        if self._silence >= self._end or self._since_onset >= self._max_candidate:
            for held in self._held:  # back into history; the ring keeps the newest of them
                self._ring.push(held)
            self._held.clear()
            self._state = GateState.IDLE
            self._since_onset = self._speech = self._silence = 0
            return [Rejected("too_short")]
        return []

    def _promote_if_long_enough(self) -> list[GateEvent]:
        if self._speech < self._min_speech:
            return []
        preroll = tuple(self._held)
        self._held.clear()
        self._state = GateState.OPEN
        return [Triggered(preroll)]

    def _open(self, frame: bytes, speech: bool) -> list[GateEvent]:
        self._since_onset += 1
        self._silence = 0 if speech else self._silence + 1
        events: list[GateEvent] = [Speech(frame)]
        if self._silence >= self._end:
            events.append(self._end_turn("silence"))
        elif self._since_onset >= self._max_turn:
            events.append(self._end_turn("max_length"))
        return events

    def _end_turn(self, reason: Literal["silence", "max_length"]) -> Ended:
        # The ring was emptied at the onset and an open turn does not fill it: the next pre-roll
        # starts after the turn's last frame, so nothing is handed out twice.
        self._since_onset = self._speech = self._silence = 0
        self._state = GateState.COOLDOWN if reason == "max_length" else GateState.IDLE
        return Ended(reason)

    def _cooldown(self, frame: bytes, speech: bool) -> list[GateEvent]:
        self._ring.push(frame)  # never handed out from here: it is pre-roll for what follows
        self._silence = 0 if speech else self._silence + 1
        if self._silence >= self._end:
            self._state = GateState.IDLE
            self._silence = 0
        return []


def _frames_in(ms: int, frame_ms: int) -> int:
    return math.ceil(ms / frame_ms)


def _check_ms(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of ms >= {minimum}, got {value!r}")
