"""Limits a person can rely on: how long one user turn may last, and how many seconds of
microphone audio may leave the device in one day; plus the token usage the server reports.
Core: no I/O; time and the local date are passed in.

The app keeps one `UsageLedger` for the daemon's life and tells it what happens:

- `begin_turn(now, today)` when a user turn opens (`now`: monotonic seconds), `end_turn(now)`
  when it closes;
- `add_audio(seconds, today)` for every chunk of microphone audio handed to the connection
  (pre-roll included: it is sent, so it is billed), and `add_tokens(count, today)` for every
  `usageMetadata` (its `totalTokenCount`; each message reports what one response cost,
  docs/live-protocol.md section 4.2, so they are summed);
- after each, `turn_limit_reached(now)` and `daily_limit_reached(today)`: when either is True,
  end the turn, play the LIMIT earcon and write one journal line. `turn_time_left(now)` tells
  how long to set a timer for.

Days are local calendar days, as `today` says: the first call with another date starts a new
day from zero (whatever the direction: a clock corrected backwards must not leave the device
blocked until a date in the future). Tokens that arrive after a turn ended (the answer's
usageMetadata comes with its turnComplete) count to that turn, the most recent one.

`snapshot()` gives the day's totals as a `DayUsage` (`to_json()` for the state store);
`restore(DayUsage.from_json(saved), today)` puts them back after a restart, so a restart does
not reset the daily cap. A snapshot of another day is ignored.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

_US = 1_000_000  # audio is counted in whole microseconds: sums of 20 ms frames stay exact
_MAX_SAVED = 10**12  # bound on every saved count: a corrupt state file cannot hold absurd values


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """One user turn: when it began and ended (monotonic s; `ended_at` None while open), the
    audio sent in it and the tokens reported for it."""

    started_at: float
    ended_at: float | None
    audio_seconds: float
    tokens: int

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One local day's totals: audio seconds sent, tokens reported, user turns begun."""

    day: dt.date
    audio_seconds: float = 0.0
    tokens: int = 0
    turns: int = 0

    def to_json(self) -> dict[str, str | int | float]:
        """A JSON object for the state store; `from_json` reads it back."""
        return {
            "day": self.day.isoformat(),
            "audio_seconds": round(self.audio_seconds, 6),
            "tokens": self.tokens,
            "turns": self.turns,
        }

    @classmethod
    def from_json(cls, saved: object) -> DayUsage:
        """Read what `to_json` wrote. Raises ValueError (one line, naming the field) for
        anything else: a corrupt state file is reported and the day starts from zero."""
        if not isinstance(saved, Mapping):
            raise ValueError(f"saved usage is {type(saved).__name__}, not a JSON object")
        day = saved.get("day")
        if not isinstance(day, str) or len(day) != 10:
            raise ValueError("saved usage: 'day' is not a date like 2026-11-05")
        try:
            parsed = dt.date.fromisoformat(day)
        except ValueError:
            raise ValueError("saved usage: 'day' is not a date like 2026-11-05") from None
        audio = saved.get("audio_seconds")
        if (
            isinstance(audio, bool)
            or not isinstance(audio, (int, float))
            or not math.isfinite(audio)
            or not 0 <= audio <= _MAX_SAVED
        ):
            raise ValueError("saved usage: 'audio_seconds' is not a number of seconds >= 0")
        counts: dict[str, int] = {}
        for name in ("tokens", "turns"):
            value = saved.get(name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= _MAX_SAVED
            ):
                raise ValueError(f"saved usage: {name!r} is not a whole number >= 0")
            counts[name] = value
        return cls(parsed, float(audio), counts["tokens"], counts["turns"])


class UsageLedger:
    """Per-turn and per-day sums of microphone audio sent and tokens; the two limits.

    `max_turn_s`: the longest user turn, from `begin_turn` (None: no limit).
    `daily_audio_s`: seconds of microphone audio one local day may send (None: no limit).
    Both must be positive when given (ValueError otherwise).
    """

    def __init__(
        self, *, max_turn_s: float | None, daily_audio_s: float | None, today: dt.date
    ) -> None:
        for name, value in (("max_turn_s", max_turn_s), ("daily_audio_s", daily_audio_s)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number of seconds > 0 or None, got {value!r}")
        self.max_turn_s = max_turn_s
        self.daily_audio_s = daily_audio_s
        self._day = today
        self._day_audio_us = 0
        self._day_tokens = 0
        self._day_turns = 0
        self._turn_started: float | None = None
        self._turn_ended: float | None = None
        self._turn_audio_us = 0
        self._turn_tokens = 0
        self._turn_open = False

    # -- what happened ---------------------------------------------------------------------

    def begin_turn(self, now: float, today: dt.date) -> None:
        """A user turn opens at `now` (monotonic s). An open turn is ended first."""
        self._roll(today)
        self._turn_started, self._turn_ended = now, None
        self._turn_audio_us = self._turn_tokens = 0
        self._turn_open = True
        self._day_turns += 1

    def end_turn(self, now: float) -> TurnUsage | None:
        """The open user turn closes; its usage (None when no turn was ever begun). Tokens
        reported later still count to it. Without an open turn, nothing changes."""
        if self._turn_open:
            self._turn_open = False
            self._turn_ended = now
        return self.turn

    def add_audio(self, seconds: float, today: dt.date) -> None:
        """`seconds` of microphone audio were handed to the connection. Counts to the day, and
        to the turn when one is open. Raises ValueError for a negative or non-finite value."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"audio seconds must be >= 0, got {seconds!r}")
        self._roll(today)
        micro = round(seconds * _US)
        self._day_audio_us += micro
        if self._turn_open:
            self._turn_audio_us += micro

    def add_tokens(self, count: int, today: dt.date) -> None:
        """Tokens the server reported (usageMetadata.totalTokenCount). Counts to the day and to
        the current or most recent turn. A negative count (a broken server) counts as 0."""
        self._roll(today)
        count = max(0, int(count))
        self._day_tokens += count
        if self._turn_started is not None:
            self._turn_tokens += count

    # -- the limits --------------------------------------------------------------------------

    def turn_time_left(self, now: float) -> float | None:
        """Seconds the open turn may still last (0 when over); None without a turn limit or an
        open turn."""
        if self.max_turn_s is None or not self._turn_open or self._turn_started is None:
            return None
        return max(0.0, self.max_turn_s - (now - self._turn_started))

    def turn_limit_reached(self, now: float) -> bool:
        """The open turn has lasted `max_turn_s`: end it."""
        left = self.turn_time_left(now)
        return left is not None and left <= 0

    def daily_audio_left(self, today: dt.date) -> float | None:
        """Seconds of audio today may still send (0 when used up); None without a daily cap."""
        self._roll(today)
        if self.daily_audio_s is None:
            return None
        return max(0.0, self.daily_audio_s - self._day_audio_us / _US)

    def daily_limit_reached(self, today: dt.date) -> bool:
        """Today's audio reached `daily_audio_s`: end the turn, and start no new one today."""
        left = self.daily_audio_left(today)
        return left is not None and left <= 0

    # -- reading -----------------------------------------------------------------------------

    @property
    def turn(self) -> TurnUsage | None:
        """The open or most recent turn (None before the first)."""
        if self._turn_started is None:
            return None
        return TurnUsage(
            self._turn_started, self._turn_ended, self._turn_audio_us / _US, self._turn_tokens
        )

    @property
    def turn_open(self) -> bool:
        return self._turn_open

    def day(self, today: dt.date) -> DayUsage:
        """Today's totals (a new day starts from zero)."""
        self._roll(today)
        return self.snapshot()

    def snapshot(self) -> DayUsage:
        """The totals of the day the ledger is on, for the state store."""
        return DayUsage(self._day, self._day_audio_us / _US, self._day_tokens, self._day_turns)

    def restore(self, saved: DayUsage, today: dt.date) -> bool:
        """Put back totals saved before a restart. Only a snapshot of `today` is taken (True);
        another day's is ignored (False). The totals replace today's."""
        self._roll(today)
        if saved.day != today:
            return False
        self._day_audio_us = round(saved.audio_seconds * _US)
        self._day_tokens = saved.tokens
        self._day_turns = saved.turns
        return True

    def _roll(self, today: dt.date) -> None:
        if today != self._day:
            self._day = today
            self._day_audio_us = self._day_tokens = self._day_turns = 0
