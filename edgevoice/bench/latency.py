"""The client-added latencies, read from the daemon's trace (no I/O).

Every figure is the time between two trace events of the daemon itself (CLOCK_MONOTONIC, the
daemon's own timestamps; see edgevoice.adapters.trace for where each point sits):

- release -> activityEnd: `ctl release` (the request reached the daemon) to the next
  `ws.activity_end` (the frame handed to the socket).
- warm press -> first frame: a `ctl press` on an open connection (no `ws.setup` follows it) to
  the next `ws.audio` (the first audio frame of the turn handed to the socket).
- reply -> device: the first `ws.recv_audio` after a turn's `ws.activity_end` (the reply's first
  audio read from the socket) to the next `play.start` (the playback callback handed the first
  audible samples to the device). A press in between (the reply was cut before it played)
  leaves that turn out.
- barge-in -> silence: a `ctl press` while the speaker is audible (after a `play.start`, before
  its `play.stop`) to the next `play.stop` (the period in which the audio ends was handed to
  the device; after it only silence is).
- cold press -> setupComplete: a `ctl press` followed by `ws.setup` (no connection was open: the
  press opened one) to the next `ws.setup_complete` (setupComplete read from the socket).

Each extractor stops looking at the next `ctl` press or release: an event after it belongs to
another turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from edgevoice.bench.trace_read import Event

PRESS = "press"
RELEASE = "release"

KEYS = (
    "release_to_activity_end_ms",
    "warm_press_to_first_frame_ms",
    "reply_to_device_ms",
    "barge_in_to_silence_ms",
    "cold_press_to_setup_complete_ms",
)


@dataclass
class Latencies:
    """Each series in milliseconds, in the order the turns happened."""

    release_to_activity_end_ms: list[float] = field(default_factory=list)
    warm_press_to_first_frame_ms: list[float] = field(default_factory=list)
    reply_to_device_ms: list[float] = field(default_factory=list)
    barge_in_to_silence_ms: list[float] = field(default_factory=list)
    cold_press_to_setup_complete_ms: list[float] = field(default_factory=list)

    def series(self) -> dict[str, list[float]]:
        return {key: getattr(self, key) for key in KEYS}


def _is_turn_edge(event: Event) -> bool:
    return event.name == "ctl" and event.value in (PRESS, RELEASE)


def _next(events: Sequence[Event], start: int, name: str) -> Event | None:
    """The first `name` event from index `start` on, before the next press or release."""
    for j in range(start, len(events)):
        event = events[j]
        if event.name == name:
            return event
        if _is_turn_edge(event):
            return None
    return None


def _ms(later: Event, earlier: Event) -> float:
    return (later.at - earlier.at) * 1000.0


def latencies(events: Sequence[Event]) -> Latencies:
    """The five series from `events` (in time order; see the module docstring)."""
    found = Latencies()
    audible = False
    for i, event in enumerate(events):
        if event.name == "play.start":
            audible = True
        elif event.name == "play.stop":
            audible = False
        elif event.name == "ctl" and event.value == RELEASE:
            end = _next(events, i + 1, "ws.activity_end")
            if end is not None:
                found.release_to_activity_end_ms.append(_ms(end, event))
        elif event.name == "ctl" and event.value == PRESS:
            _press(events, i, event, audible, found)
        elif event.name == "ws.activity_end":
            _reply(events, i, found)
    return found


def _press(events: Sequence[Event], i: int, press: Event, audible: bool, found: Latencies) -> None:
    setup = _next(events, i + 1, "ws.setup")
    if setup is not None:
        complete = _next(events, i + 1, "ws.setup_complete")
        if complete is not None:
            found.cold_press_to_setup_complete_ms.append(_ms(complete, press))
    else:
        frame = _next(events, i + 1, "ws.audio")
        if frame is not None:
            found.warm_press_to_first_frame_ms.append(_ms(frame, press))
    if audible:
        # The press cuts the answer: silence is the next play.stop, whatever turn it is in.
        for j in range(i + 1, len(events)):
            event = events[j]
            if event.name == "play.stop":
                found.barge_in_to_silence_ms.append(_ms(event, press))
                break
            if event.name == "play.start":
                break


def _reply(events: Sequence[Event], i: int, found: Latencies) -> None:
    received: Event | None = None
    for j in range(i + 1, len(events)):
        event = events[j]
        if received is None and event.name == "ws.recv_audio":
            received = event
        elif received is not None and event.name == "play.start":
            found.reply_to_device_ms.append(_ms(event, received))
            return
        elif event.name == "ctl" and event.value == PRESS:
            return
