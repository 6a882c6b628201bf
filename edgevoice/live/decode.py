"""`decode_server_message`: one Gemini Live server frame -> its events. Core: no I/O.

The function takes the text or the bytes of one WebSocket frame (the real server sends binary
frames of UTF-8 JSON, docs/live-protocol.md section 4.1) and returns the events it carries
(`edgevoice.live.events`), in this order:

1. `SetupComplete`
2. from `serverContent`: the model turn's parts in order (`AudioChunk`, `TextPart`, `Thought`),
   then `InputTranscription`, `OutputTranscription`, `Interrupted`, `GenerationComplete`,
   `WaitingForInput`
3. `UsageMetadata` (it usually rides along with turnComplete, so it comes just before it)
4. `TurnComplete` (with interactionStatus), or `InteractionUpdate` for a status without it
5. `ToolCall`, `ToolCallCancellation`, `SessionResumptionUpdate`, `GoAway`
6. `IgnoredFields`, last, when the message had fields this module does not turn into events
   (grounding metadata, fields newer than this code): log them at debug level and carry on.

The decoder is liberal where the real server may differ from the documentation: camelCase and
snake_case keys (the server speaks proto3 JSON), both base64 alphabets with or without padding,
null as "absent", integers given as strings, "true"/"false" strings for booleans, several
top-level fields in one message. It is strict where guessing would be wrong: anything that is
not a JSON object, a field of the wrong type, bad base64, or model audio that is not raw PCM
raises `RemoteProtocolError` with a one-line message naming the field.
"""

from __future__ import annotations

import base64
import binascii
import math
import re

from edgevoice.errors import RemoteProtocolError
from edgevoice.live.bounded_json import parse_server_json
from edgevoice.live.events import (
    OUTPUT_AUDIO_RATE,
    AudioChunk,
    FunctionCall,
    GenerationComplete,
    GoAway,
    IgnoredFields,
    InputTranscription,
    InteractionUpdate,
    Interrupted,
    OutputTranscription,
    ServerEvent,
    SessionResumptionUpdate,
    SetupComplete,
    TextPart,
    Thought,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UsageMetadata,
    WaitingForInput,
)
from edgevoice.live.json_view import Obj, Value, snippet
from edgevoice.ports import SINK_RATE_RANGE

# Items of one array the decoder walks; far above what a real frame carries (2.5 sends one part
# per message, 3.1 a few), far below what would cost noticeable CPU (issue #7 section 4).
MAX_PARTS = 256
MAX_CALLS = 128
MAX_IDS = 1024


def decode_server_message(frame: str | bytes | bytearray | memoryview) -> list[ServerEvent]:
    """Decode one server frame (text, or bytes of UTF-8 JSON) into its events, in the order the
    module docstring gives. An empty object decodes to no events.

    Raises RemoteProtocolError (one line, naming the field) for a frame that is not UTF-8 JSON,
    not an object, or has a field of the wrong type, bad base64 or non-PCM audio.
    """
    if isinstance(frame, str):
        text = frame
    else:
        try:
            text = bytes(frame).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(
                f"server frame is not UTF-8 text (bad byte at offset {exc.start})"
            ) from exc
    parsed = parse_server_json(text)
    ignored: list[str] = []
    message = Obj(parsed, "", ignored)
    events: list[ServerEvent] = []

    setup_complete = message.obj("setupComplete")
    if setup_complete is not None:
        events.append(SetupComplete(session_id=setup_complete.string("sessionId")))
        setup_complete.done()

    content = message.obj("serverContent")
    turn_end: TurnComplete | InteractionUpdate | None = None
    if content is not None:
        turn_end = _decode_server_content(content, events)

    usage = message.obj("usageMetadata")
    if usage is not None:
        events.append(_decode_usage(usage))
    if turn_end is not None:
        events.append(turn_end)

    tool_call = message.obj("toolCall")
    if tool_call is not None:
        calls = tool_call.array("functionCalls", MAX_CALLS)
        if calls:
            events.append(ToolCall(tuple(_decode_call(c) for c in calls)))
        tool_call.done()

    cancellation = message.obj("toolCallCancellation")
    if cancellation is not None:
        ids = tuple(i.text() for i in cancellation.array("ids", MAX_IDS))
        if ids:
            events.append(ToolCallCancellation(ids))
        cancellation.done()

    update = message.obj("sessionResumptionUpdate")
    if update is not None:
        events.append(
            SessionResumptionUpdate(
                new_handle=update.string("newHandle") or "",
                resumable=update.boolean("resumable"),
                last_consumed_client_message_index=update.integer("lastConsumedClientMessageIndex"),
            )
        )
        update.done()

    go_away = message.obj("goAway")
    if go_away is not None:
        events.append(GoAway(_duration(go_away.consume("timeLeft"))))
        go_away.done()

    message.done()
    if ignored:
        events.append(IgnoredFields(tuple(ignored)))
    return events


def _decode_server_content(
    content: Obj, events: list[ServerEvent]
) -> TurnComplete | InteractionUpdate | None:
    """Append the content events; return the turn's end to place after usage, if any."""
    turn = content.obj("modelTurn")
    if turn is not None:
        turn.consume("role")  # always "model"; carries nothing
        for part in turn.array("parts", MAX_PARTS):
            _decode_part(part.obj_value(), events)
        turn.done()
    for key, event_type in (
        ("inputTranscription", InputTranscription),
        ("outputTranscription", OutputTranscription),
    ):
        transcription = content.obj(key)
        if transcription is not None:
            text = transcription.string("text") or ""
            finished = transcription.boolean("finished")
            if text or finished:
                events.append(event_type(text, finished))
            transcription.done()
    if content.boolean("interrupted"):
        events.append(Interrupted())
    if content.boolean("generationComplete"):
        events.append(GenerationComplete())
    if content.boolean("waitingForInput"):
        events.append(WaitingForInput())
    status = content.string("interactionStatus")
    turn_end: TurnComplete | InteractionUpdate | None = None
    if content.boolean("turnComplete"):
        turn_end = TurnComplete(content.string("turnCompleteReason"), status)
    elif status is not None:
        turn_end = InteractionUpdate(status)
    content.done()
    return turn_end


def _decode_part(part: Obj, events: list[ServerEvent]) -> None:
    blob = part.obj("inlineData")
    if blob is not None:
        rate = _pcm_rate(blob.string("mimeType"), blob.path("mimeType"))
        pcm = _base64(blob.consume("data"))
        if len(pcm) % 2:
            # Half a sample would shift every later sample by one byte: loud noise, not speech.
            raise RemoteProtocolError(
                f"server message: {blob.path('data')} holds {len(pcm)} bytes of 16-bit PCM, "
                "an odd number"
            )
        events.append(AudioChunk(pcm, rate))
        blob.done()
    text = part.string("text")
    if text is not None:
        # "thought": true marks a thought summary, never to be spoken (section 4.2).
        events.append(Thought(text) if part.boolean("thought") else TextPart(text))
    part.done()


def _decode_call(value: Value) -> FunctionCall:
    call = value.obj_value()
    call_id = call.string("id")
    name = call.string("name")
    if not call_id or not name:
        raise RemoteProtocolError(
            f"server message: {call.path('')} has no id or no name; a call without both "
            "cannot be answered"
        )
    args = call.json_object("args")
    call.done()
    return FunctionCall(call_id, name, args if args is not None else {})


def _decode_usage(usage: Obj) -> UsageMetadata:
    raw = usage.raw_json()
    return UsageMetadata(
        prompt_tokens=usage.integer("promptTokenCount") or 0,
        response_tokens=usage.integer("responseTokenCount") or 0,
        total_tokens=usage.integer("totalTokenCount") or 0,
        raw=raw,
    )


_PCM_TYPES = ("audio/pcm", "audio/l16")
_RATE = re.compile(r"[0-9]{1,9}")  # ASCII digits: "²".isdigit() is True, int("²") fails


def _pcm_rate(mime: str | None, where: str) -> int:
    """The sample rate from an inline audio mimeType like "audio/pcm;rate=24000"."""
    if mime is None:
        return OUTPUT_AUDIO_RATE  # the documented output format (section 5)
    kind, *params = (p.strip().lower() for p in mime.split(";"))
    if kind not in _PCM_TYPES:
        raise RemoteProtocolError(
            f"server message: {where} is {snippet(mime)}, not raw PCM (audio/pcm;rate=N)"
        )
    rate = OUTPUT_AUDIO_RATE
    for param in params:
        key, _, value = param.partition("=")
        if key.strip() == "rate":
            value = value.strip()
            if not _RATE.fullmatch(value) or int(value) <= 0:
                raise RemoteProtocolError(
                    f"server message: {where} has an invalid rate in {snippet(mime)}"
                )
            rate = int(value)
            low, high = SINK_RATE_RANGE
            if not low <= rate <= high:
                # Audio the speaker cannot take (ports.AudioSink.play) is a bad frame here, not
                # an error deep in the playback path (the service always sends 24 kHz).
                raise RemoteProtocolError(
                    f"server message: {where} has rate {rate} Hz, outside the {low}-{high} Hz "
                    "a speaker takes"
                )
    return rate


# A google.protobuf.Duration is at most 315,576,000,000 s (10,000 years): 12 digits.
_DURATION = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,9}))?s")
MAX_DURATION_SECONDS = 315_576_000_000


def parse_duration(text: str) -> float:
    """Seconds in a protobuf Duration JSON string ("10s", "9.5s", "0.000001s").

    Raises ValueError for anything else: negative durations, and durations beyond the
    protobuf range (10,000 years) included.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) > MAX_DURATION_SECONDS:
        raise ValueError(f"{snippet(text)} is not a non-negative protobuf duration like '9.5s'")
    whole, fraction = match.groups()
    nanos = int((fraction or "").ljust(9, "0"))
    return int(whole) + nanos / 1e9


def _duration(value: Value | None) -> float:
    if value is None:
        return 0.0  # proto3 JSON omits a zero duration
    raw = value.value
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        # Liberal: plain seconds. A float() of a huge int overflows; the bound comes first.
        if not (0 <= raw <= MAX_DURATION_SECONDS) or not math.isfinite(raw):
            raise value.fail("a non-negative duration of at most 10,000 years")
        return float(raw)
    try:
        return parse_duration(value.text())
    except ValueError:
        raise value.fail("a protobuf duration like '9.5s'") from None


def _base64(value: Value | None) -> bytes:
    if value is None:
        return b""
    text = value.text()
    try:
        return _decode_base64(text)
    except (binascii.Error, ValueError) as exc:
        raise RemoteProtocolError(
            f"server message: {value.where} is not valid base64 "
            f"({len(text)} characters, starting {snippet(text, 24)})"
        ) from exc


def _decode_base64(text: str) -> bytes:
    # proto3 JSON bytes: standard or URL-safe alphabet, padding optional (section 3.1).
    cleaned = text.translate(_URLSAFE_TO_STANDARD)
    body = cleaned.rstrip("=")
    padding = len(cleaned) - len(body)
    if padding and (padding > 2 or len(cleaned) % 4):
        raise binascii.Error("wrong padding")  # binascii would let "QUJD=" through
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
