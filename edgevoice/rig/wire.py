"""What the daemon sent and what it was answered, read back from the simulator's record.

The simulator (`edgevoice.sim`) keeps every frame it received and sent per connection
(`ConnectionRecord`). These readers decode them the way a person reads the protocol:

- `wire(record)`: the received frames in order as `Item`s (the realtimeInput fields one by
  one, base64 audio decoded to PCM);
- `turns_of(items)`: the user turns, activityStart ... activityEnd, with their audio;
  `audio_outside_turns(items)`: bytes of audio sent with no activity open;
- `reply_audio(record)`: the answers the simulator sent, one array per model turn;
- `input_transcripts(record)`: the inputTranscription texts it sent (what it "heard").
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from edgevoice.rig.signals import Samples, from_pcm
from edgevoice.sim import ConnectionRecord

MIC_RATE = 16000  # what the Live API takes (protocol doc section 5)
REPLY_RATE = 24000  # what it answers with
MIC_MIME = f"audio/pcm;rate={MIC_RATE}"


@dataclass(frozen=True)
class Item:
    """One thing the daemon sent: `kind` is the realtimeInput field ("audio", "activityStart",
    "activityEnd", "audioStreamEnd", "text"), the top-level key ("setup", "toolResponse",
    "clientContent"), or "malformed"; `value` the decoded audio bytes, the text, or the body.
    `mime` is the audio's mimeType."""

    connection: int
    kind: str
    value: Any = None
    mime: str | None = None


def wire(record: ConnectionRecord) -> list[Item]:
    """A connection's received frames, in order, decoded (base64 audio -> PCM bytes)."""
    items: list[Item] = []
    for frame in record.received:
        try:
            obj = frame.json
        except ValueError:
            obj = None
        if not isinstance(obj, dict) or len(obj) != 1:
            items.append(Item(record.id, "malformed", frame.raw))
            continue
        ((key, body),) = obj.items()
        if key != "realtimeInput" or not isinstance(body, dict):
            items.append(Item(record.id, key, body))
            continue
        for field_name, value in body.items():
            if field_name == "audio" and isinstance(value, dict):
                try:
                    pcm = base64.b64decode(value.get("data", ""), validate=True)
                except (binascii.Error, ValueError):
                    items.append(Item(record.id, "malformed", frame.raw))
                    continue
                items.append(Item(record.id, "audio", pcm, value.get("mimeType")))
            else:
                items.append(Item(record.id, field_name, value))
    return items


@dataclass
class Turn:
    """One bracketed user turn as the simulator received it."""

    connection: int
    pcm: bytes = b""
    ended: bool = False  # activityEnd arrived
    texts: list[str] = field(default_factory=list)

    @property
    def audio(self) -> Samples:
        return from_pcm(self.pcm)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / MIC_RATE


class WireError(ValueError):
    """The frames break manual turn-taking (an activityStart inside an open turn, ...)."""


def turns_of(items: list[Item]) -> list[Turn]:
    """activityStart ... activityEnd brackets, in order; audio outside them is not included
    (see `audio_outside_turns`). Raises WireError when the brackets are broken."""
    found: list[Turn] = []
    current: Turn | None = None
    for item in items:
        if item.kind == "activityStart":
            if current is not None and not current.ended:
                raise WireError("activityStart inside an open turn")
            current = Turn(item.connection)
            found.append(current)
        elif item.kind == "activityEnd":
            if current is None or current.ended:
                raise WireError("activityEnd with no open turn")
            current.ended = True
            current = None
        elif item.kind == "audio" and current is not None:
            current.pcm += item.value
        elif item.kind == "text" and current is not None:
            current.texts.append(item.value)
    return found


def audio_outside_turns(items: list[Item]) -> int:
    """Bytes of audio sent with no activity open (manual turn-taking allows none)."""
    open_turn = False
    outside = 0
    for item in items:
        if item.kind == "activityStart":
            open_turn = True
        elif item.kind == "activityEnd":
            open_turn = False
        elif item.kind == "audio" and not open_turn:
            outside += len(item.value)
    return outside


def reply_audio(record: ConnectionRecord) -> list[Samples]:
    """The answers the simulator sent on a connection: one float array (24 kHz) per model
    turn, split at turnComplete; interrupted answers are cut where the simulator stopped."""
    replies: list[bytearray] = [bytearray()]
    for message in record.sent_messages("serverContent"):
        content = message["serverContent"]
        for part in content.get("modelTurn", {}).get("parts", []):
            data = part.get("inlineData", {}).get("data")
            if data:
                replies[-1] += base64.b64decode(data)
        if content.get("turnComplete") or content.get("interrupted"):
            replies.append(bytearray())
    return [from_pcm(bytes(r)) for r in replies if r]


def input_transcripts(record: ConnectionRecord) -> list[str]:
    """The inputTranscription texts the simulator sent on a connection, in order."""
    texts = []
    for message in record.sent_messages("serverContent"):
        text = message["serverContent"].get("inputTranscription", {}).get("text")
        if isinstance(text, str):
            texts.append(text)
    return texts
