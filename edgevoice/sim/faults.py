"""Fault knobs: what goes wrong, and when, on a simulated connection.

A `Fault` is an action plus the moment it fires (`When`). Moments count per connection:
`connect` (right after the upgrade, before any frame), `setup` (the setup frame was accepted,
before setupComplete), `ready` (right after setupComplete), `frame:N` (after the Nth client
frame, setup being frame 1, has been handled) and `turn:N` (after the Nth turnComplete on this
connection). `times` limits how many connections a fault fires on over the server's life
(default 1, 0 = every connection that reaches the moment), so "drop once, then recover" is the
default shape.

On the command line a fault is `ACTION[=ARG]@WHEN[*TIMES]`, for example `abort@turn:1`,
`close=1011:Internal error encountered.@frame:3`, `goaway=2.5@ready`, `stall@setup*0`.

A fault is checked when it is made (`Fault.parse`, `SimOptions`): a close code must be one a
server may send (RFC 6455 section 7.4: 1000-1003, 1007-1014, 3000-4999; never 1004-1006 or 1015),
a reason must fit the 123-byte limit as UTF-8, and goAway seconds must be finite and >= 0.
"""

from __future__ import annotations

import enum
import math
import threading
from dataclasses import dataclass

from edgevoice.sim import reasons


class FaultAction(enum.Enum):
    CLOSE = "close"  # close with `code` and `reason`
    ABORT = "abort"  # drop the TCP connection without a close frame (client sees 1006)
    STALL = "stall"  # stop answering: keep reading and recording, send nothing more
    MALFORMED = "malformed"  # send a frame that is not JSON, then carry on
    UNKNOWN = "unknown"  # send a message type no client knows, then carry on
    OVERSIZED = "oversized"  # send a valid frame over 1 MiB (the SDK's limit: it closes 1009)
    GOAWAY = "goaway"  # send goAway{timeLeft}, then close 1011 "Deadline expired..." after it
    QUOTA = "quota"  # close 1011 with the quota text
    UNAVAILABLE = "unavailable"  # close 1011 "The service is currently unavailable."
    ABORTED = "aborted"  # close 1008 "The operation was aborted." (section 6.2, 6.4)


# Close codes a server may put in a close frame (RFC 6455 section 7.4.1; websockets refuses
# to send the others): 1004-1006 and 1015 are reserved, 1005/1006 are never sent on the wire.
SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)}) | frozenset(
    range(3000, 5000)
)


class Moment(enum.Enum):
    CONNECT = "connect"
    SETUP = "setup"
    READY = "ready"
    FRAME = "frame"
    TURN = "turn"


@dataclass(frozen=True)
class When:
    moment: Moment
    n: int = 0  # for FRAME and TURN; 0 (only through the API, e.g. `Simulator.inject`) = any

    @classmethod
    def parse(cls, text: str) -> When:
        name, _, count = text.partition(":")
        try:
            moment = Moment(name)
        except ValueError:
            names = ", ".join(m.value for m in Moment)
            raise ValueError(f"unknown moment {name!r}; use one of {names}") from None
        if moment in (Moment.FRAME, Moment.TURN):
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"{name} needs a count >= 1, e.g. {name}:2")
            return cls(moment, int(count))
        if count:
            raise ValueError(f"{name} takes no count")
        return cls(moment)

    def __str__(self) -> str:
        return f"{self.moment.value}:{self.n}" if self.n else self.moment.value


@dataclass(frozen=True)
class Fault:
    action: FaultAction
    when: When
    code: int = reasons.INTERNAL  # CLOSE only
    reason: str = reasons.INTERNAL_ERROR  # CLOSE only
    time_left_s: float = 1.0  # GOAWAY only: the timeLeft announced, then the wait before closing
    times: int = 1  # connections it may fire on; 0 = unlimited

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse `ACTION[=ARG]@WHEN[*TIMES]`; raise ValueError naming what is wrong."""
        head, at, tail = spec.rpartition("@")
        if not at:
            raise ValueError(f"fault {spec!r}: expected ACTION[=ARG]@WHEN, e.g. abort@turn:1")
        when_text, star, times_text = tail.partition("*")
        times = 1
        if star:
            if not times_text.isdigit():
                raise ValueError(f"fault {spec!r}: *TIMES must be a whole number (0 = always)")
            times = int(times_text)
        name, eq, arg = head.partition("=")
        try:
            action = FaultAction(name)
        except ValueError:
            names = ", ".join(a.value for a in FaultAction)
            raise ValueError(
                f"fault {spec!r}: unknown action {name!r}; use one of {names}"
            ) from None
        when = When.parse(when_text)
        if action is FaultAction.CLOSE and eq:
            code_text, _, reason = arg.partition(":")
            if not code_text.isdigit() or len(code_text) > 4:
                raise ValueError(f"fault {spec!r}: close takes CODE[:REASON], e.g. close=1011:x")
            fault = cls(action, when, int(code_text), reason, times=times)
        elif action is FaultAction.GOAWAY and eq:
            try:
                seconds = float(arg)
            except ValueError:
                raise ValueError(f"fault {spec!r}: goaway takes seconds, e.g. goaway=2.5") from None
            fault = cls(action, when, time_left_s=seconds, times=times)
        elif eq:
            raise ValueError(f"fault {spec!r}: {name} takes no argument")
        else:
            fault = cls(action, when, times=times)
        try:
            fault.check()
        except ValueError as error:
            raise ValueError(f"fault {spec!r}: {error}") from None
        return fault

    def check(self) -> None:
        """Raise ValueError (one line) when the simulator could not carry this fault out."""
        if self.code not in SENDABLE_CODES:
            raise ValueError(
                f"close code {self.code} cannot be sent by a server; use 1000-1003, "
                "1007-1014 or 3000-4999"
            )
        try:
            size = len(self.reason.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError("the close reason is not valid text") from None
        if size > 123:
            raise ValueError(f"the close reason is {size} bytes; a close frame takes 123")
        if not math.isfinite(self.time_left_s) or not 0 <= self.time_left_s <= 86_400:
            raise ValueError(f"goaway seconds must be finite, 0-86400, got {self.time_left_s}")
        if self.times < 0:
            raise ValueError(f"times must be >= 0, got {self.times}")
        if self.when.n < 0:
            raise ValueError(f"the moment count must be >= 1, got {self.when.n}")


@dataclass(frozen=True)
class Firing:
    """A fault that fired: on which connection (1-based id), what, and when (`SimOptions.now`)."""

    connection: int
    detail: str
    at: float


class FaultBook:
    """Counts how often each fault fired, across all connections of one server. Faults can be
    added while the server runs (`arm`)."""

    def __init__(self, faults: tuple[Fault, ...]) -> None:
        self._faults = list(faults)
        self._fired = [0] * len(faults)
        self._lock = threading.Lock()
        self.firings: list[Firing] = []  # every fault carried out, armed or struck, in order

    def arm(self, fault: Fault) -> None:
        """Add `fault` from now on, as if it had been given at the start (its `times` count
        from now). Raises ValueError when the simulator could not carry it out."""
        fault.check()
        with self._lock:
            self._faults.append(fault)
            self._fired.append(0)

    def due(self, moment: Moment, n: int = 0) -> list[Fault]:
        """The faults that fire now; each call that returns a fault counts as one firing."""
        due: list[Fault] = []
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.when.moment is not moment or (fault.when.n and fault.when.n != n):
                    continue
                if fault.times and self._fired[index] >= fault.times:
                    continue
                self._fired[index] += 1
                due.append(fault)
        return due
