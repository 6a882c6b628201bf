"""What the conversation controller reacts to: one small dataclass per kind of input.

Every task of the daemon (the microphone pump, the button, the control socket, a connection's
reader and sender, timers, tool runs, the playback watcher) hands what happened to the
controller as one of these, through its one queue (`Conversation.post`); the controller
dispatches them one at a time with `match`, so no two inputs ever interleave.

Inputs that belong to a connection carry its `Link`: one from a link the controller has
already let go of (closed, dropped, replaced) is stale and ignored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from edgevoice.control_protocol import Request
from edgevoice.live.events import ServerEvent
from edgevoice.live.json_view import JsonValue

if TYPE_CHECKING:
    from edgevoice.app.link import Link

Source: TypeAlias = Literal["button", "control", "voice", "model"]


@dataclass(frozen=True, slots=True)
class MicFrame:
    """20 ms of 16 kHz mono int16 from the microphone."""

    frame: bytes


@dataclass(frozen=True, slots=True)
class Press:
    """Hold-to-talk down: a turn starts (or barges in)."""

    source: Source


@dataclass(frozen=True, slots=True)
class Release:
    """Hold-to-talk up: the open turn ends."""

    source: Source


@dataclass(frozen=True, slots=True)
class Click:
    """Click-to-toggle: a turn starts, or the open one ends."""

    source: Source


@dataclass(frozen=True, slots=True)
class EndConversation:
    """A long press, `edgevoice ctl cancel` or the model's end_conversation: stop listening,
    close the connection (1000) and drop the resumption handle."""

    source: Source


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The connection is open and set up (setupComplete arrived)."""

    link: Link


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A server event of the connection, in arrival order."""

    link: Link
    event: ServerEvent


@dataclass(frozen=True, slots=True)
class LinkEnded:
    """The connection attempt failed, or the connection ended; `error` says why (None only
    when it ended without one, e.g. cancelled)."""

    link: Link
    error: BaseException | None


SentKind: TypeAlias = Literal["flowing", "stopped", "turn_end", "tool_response"]


@dataclass(frozen=True, slots=True)
class Sent:
    """What the sender just put on the wire, when it matters to the controller:

    - "flowing" / "stopped": audio of the open turn started or stopped leaving the device (the
      "listening" LED follows this, never a guess);
    - "turn_end": the turn's activityEnd, audioStreamEnd or text went out (an answer is due);
    - "tool_response": a toolResponse went out (`blocking`: the model waits for it).
    """

    link: Link
    kind: SentKind
    blocking: bool = False


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer set with `Timers.set` ran out (`token` tells a cancelled one apart)."""

    name: str
    token: int


@dataclass(frozen=True, slots=True)
class PlaybackDone:
    """The answer's last sample was handed to the speaker (`token`: which answer)."""

    token: int


@dataclass(frozen=True, slots=True)
class ToolDone:
    """An operator tool finished; `response` goes back as the toolResponse."""

    link: Link
    call_id: str
    name: str
    response: dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class ControlInput:
    """A request from the control socket; the controller sets `reply` (the reply's fields, or
    a ControlError saying why it was refused)."""

    request: Request
    reply: asyncio.Future[dict[str, JsonValue]]


@dataclass(frozen=True, slots=True)
class DeviceProblem:
    """The microphone or the speaker failed and is being reopened (`text`: what STATUS= adds,
    "" once both work again)."""

    text: str


Input: TypeAlias = (
    MicFrame
    | Press
    | Release
    | Click
    | EndConversation
    | LinkUp
    | LinkEvent
    | LinkEnded
    | Sent
    | TimerFired
    | PlaybackDone
    | ToolDone
    | ControlInput
    | DeviceProblem
)
