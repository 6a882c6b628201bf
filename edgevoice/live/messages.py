"""Gemini Live frames and events: the only module that touches JSON and base64.

Client side: build a frame dataclass (`Setup`, `AudioInput`, `TextInput`, `ActivityStart`,
`ActivityEnd`, `AudioStreamEnd`, `ToolResponse`, `ClientContent`) and turn it into the text of one
WebSocket text frame with `encode_client_frame`. The output is compact camelCase JSON, the form
the API reference documents (docs/live-protocol.md sections 2-3), with exactly one top-level key.

Server side: `decode_server_message(frame)` takes the text or the bytes of one WebSocket frame
(the real server sends binary frames of UTF-8 JSON, section 4.1) and returns the events it
carries, in this order:

1. `SetupComplete`
2. from `serverContent`: the model turn's parts in order (`AudioChunk`, `TextPart`, `Thought`),
   then `InputTranscription`, `OutputTranscription`, `Interrupted`, `GenerationComplete`,
   `WaitingForInput`
3. `UsageMetadata` (it usually rides along with turnComplete, so it comes just before it)
4. `TurnComplete`
5. `ToolCall`, `ToolCallCancellation`, `SessionResumptionUpdate`, `GoAway`
6. `IgnoredFields`, last, when the message had fields this module does not turn into events
   (grounding metadata, fields newer than this code): log them at debug level and carry on.

The decoder is liberal where the real server may differ from the documentation: camelCase and
snake_case keys (the server speaks proto3 JSON), both base64 alphabets with or without padding,
null as "absent", integers given as strings, several top-level fields in one message. It is strict
where guessing would be wrong: anything that is not a JSON object, a field of the wrong type, bad
base64, or model audio that is not raw PCM raises `RemoteProtocolError` with a one-line message
naming the field. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, assert_never

from edgevoice.errors import LocalProtocolError, RemoteProtocolError

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"

INPUT_AUDIO_RATE = 16_000  # Hz: the Live API's native input rate (section 5)
OUTPUT_AUDIO_RATE = 24_000  # Hz: the Live API always answers at this rate (section 5)
MODEL_PREFIX = "models/"  # setup.model is a resource name; the SDK adds the prefix (section 2.2)

_SNIPPET = 60  # characters of a bad value quoted in an error message

# --------------------------------------------------------------------------------------------
# Client frames


class Sensitivity(enum.Enum):
    """Server VAD sensitivity for the start or the end of speech (setup.realtimeInputConfig)."""

    HIGH = "HIGH"  # the Gemini API default: detects speech sooner, ends turns sooner
    LOW = "LOW"


@dataclass(frozen=True, slots=True)
class ActivityDetection:
    """setup.realtimeInputConfig.automaticActivityDetection.

    `disabled=True` turns the server's VAD off: the client then brackets every user turn with
    `ActivityStart`/`ActivityEnd` (the button path). With `disabled=False` the server decides
    when the user starts and stops talking; the optional tuning fields apply only then, and
    None leaves a field at the server default.
    """

    disabled: bool = False
    start_sensitivity: Sensitivity | None = None
    end_sensitivity: Sensitivity | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None

    def __post_init__(self) -> None:
        tuned = (
            self.start_sensitivity,
            self.end_sensitivity,
            self.prefix_padding_ms,
            self.silence_duration_ms,
        )
        if self.disabled and any(v is not None for v in tuned):
            raise LocalProtocolError(
                "server VAD tuning (sensitivity, padding, silence) given with automatic activity "
                "detection disabled; drop the tuning or enable server VAD"
            )
        for name in ("prefix_padding_ms", "silence_duration_ms"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise LocalProtocolError(f"{name} must be >= 0 ms, got {value}")


@dataclass(frozen=True, slots=True)
class SlidingWindowCompression:
    """setup.contextWindowCompression with a sliding window; 0 leaves a value to the server.

    The server defaults trigger_tokens to 80 % of the context and target_tokens to half the
    trigger (section 2.2).
    """

    trigger_tokens: int = 0
    target_tokens: int = 0

    def __post_init__(self) -> None:
        if self.trigger_tokens < 0 or self.target_tokens < 0:
            raise LocalProtocolError("compression token counts must be >= 0 (0 = server default)")
        if self.trigger_tokens and self.target_tokens and self.target_tokens > self.trigger_tokens:
            raise LocalProtocolError(
                f"compression target_tokens ({self.target_tokens}) exceeds trigger_tokens "
                f"({self.trigger_tokens}); the window must shrink the context"
            )


_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class FunctionDeclaration:
    """One entry of setup.tools[].functionDeclarations.

    `parameters` is the OpenAPI-subset schema the API expects (`{"type": "OBJECT",
    "properties": {...}}`), or None for a function without arguments.
    """

    name: str
    description: str
    parameters: Mapping[str, JsonValue] | None = None

    def __post_init__(self) -> None:
        if not _FUNCTION_NAME.fullmatch(self.name):
            raise LocalProtocolError(
                f"function name {_snippet(self.name)} is invalid: use letters, digits, _ . - "
                "(at most 64, not starting with a digit)"
            )


@dataclass(frozen=True, slots=True)
class Setup:
    """The first and only `setup` frame of a connection (section 2).

    `model` may be given with or without the "models/" prefix. `resumption_handle` resumes an
    earlier session (section 6.3) and needs `session_resumption=True`. Transcription flags ask
    the server for `inputTranscription` / `outputTranscription` events. The response modality is
    always AUDIO: native-audio models accept only that.
    """

    model: str
    voice: str | None = None
    system_instruction: str | None = None
    input_transcription: bool = False
    output_transcription: bool = False
    session_resumption: bool = False
    resumption_handle: str | None = None
    compression: SlidingWindowCompression | None = None
    activity_detection: ActivityDetection = field(default_factory=ActivityDetection)
    function_declarations: tuple[FunctionDeclaration, ...] = ()

    def __post_init__(self) -> None:
        bare = self.model.removeprefix(MODEL_PREFIX)
        if not bare or any(c.isspace() or c == "/" for c in bare):
            raise LocalProtocolError(
                f"model {_snippet(self.model)} is not a model id; "
                "use e.g. 'gemini-2.5-flash-native-audio-preview-12-2025'"
            )
        if self.resumption_handle is not None and not self.session_resumption:
            raise LocalProtocolError("a resumption handle needs session_resumption=True")
        if self.resumption_handle == "":
            raise LocalProtocolError("resumption handle is empty; pass None to start afresh")
        names = [d.name for d in self.function_declarations]
        if len(set(names)) != len(names):
            raise LocalProtocolError(f"function declarations repeat a name: {names}")


@dataclass(frozen=True, slots=True)
class AudioInput:
    """realtimeInput.audio: raw PCM16LE mono at `rate` Hz (16 kHz is native, section 5)."""

    pcm: bytes
    rate: int = INPUT_AUDIO_RATE

    def __post_init__(self) -> None:
        if len(self.pcm) % 2:
            raise LocalProtocolError(
                f"audio chunk has {len(self.pcm)} bytes; 16-bit PCM needs an even number"
            )
        if self.rate <= 0:
            raise LocalProtocolError(f"audio rate must be a positive number of Hz, got {self.rate}")


@dataclass(frozen=True, slots=True)
class TextInput:
    """realtimeInput.text: text typed into the realtime stream (section 3.2)."""

    text: str


@dataclass(frozen=True, slots=True)
class ActivityStart:
    """realtimeInput.activityStart: the user starts a turn (server VAD must be disabled)."""


@dataclass(frozen=True, slots=True)
class ActivityEnd:
    """realtimeInput.activityEnd: the user's turn ended (server VAD must be disabled)."""


@dataclass(frozen=True, slots=True)
class AudioStreamEnd:
    """realtimeInput.audioStreamEnd: the microphone paused (server VAD must be enabled)."""


@dataclass(frozen=True, slots=True)
class FunctionResponse:
    """One answer to a `FunctionCall`: the call's id and name, and a JSON object result."""

    id: str
    name: str
    response: Mapping[str, JsonValue]

    def __post_init__(self) -> None:
        if not self.id:
            raise LocalProtocolError("a function response needs the id of its call")


@dataclass(frozen=True, slots=True)
class ToolResponse:
    """toolResponse.functionResponses (section 3.4)."""

    responses: tuple[FunctionResponse, ...]

    def __post_init__(self) -> None:
        if not self.responses:
            raise LocalProtocolError("a tool response needs at least one function response")


@dataclass(frozen=True, slots=True)
class ContentTurn:
    """One text turn of clientContent.turns."""

    role: Literal["user", "model"]
    text: str


@dataclass(frozen=True, slots=True)
class ClientContent:
    """clientContent: turns appended to the history; turn_complete=True starts generation.

    It interrupts any generation in progress, and gemini-3.1 refuses it after the first turn
    (section 3.3): prefer `TextInput` for mid-session text.
    """

    turns: tuple[ContentTurn, ...]
    turn_complete: bool = True


ClientFrame: TypeAlias = (
    Setup
    | AudioInput
    | TextInput
    | ActivityStart
    | ActivityEnd
    | AudioStreamEnd
    | ToolResponse
    | ClientContent
)


def encode_client_frame(frame: ClientFrame) -> str:
    """The text of one WebSocket text frame carrying `frame`: compact camelCase JSON.

    Raises LocalProtocolError when a tool response is not JSON-serialisable; nothing else can
    fail here because the frame classes validate themselves when they are built.
    """
    payload: JsonObject
    match frame:
        case Setup():
            payload = {"setup": _setup_body(frame)}
        case AudioInput(pcm=pcm, rate=rate):
            blob: JsonObject = {"data": _b64(pcm), "mimeType": f"audio/pcm;rate={rate}"}
            payload = {"realtimeInput": {"audio": blob}}
        case TextInput(text=text):
            payload = {"realtimeInput": {"text": text}}
        case ActivityStart():
            payload = {"realtimeInput": {"activityStart": {}}}
        case ActivityEnd():
            payload = {"realtimeInput": {"activityEnd": {}}}
        case AudioStreamEnd():
            payload = {"realtimeInput": {"audioStreamEnd": True}}
        case ToolResponse(responses=responses):
            items: list[JsonValue] = [
                {"id": r.id, "name": r.name, "response": dict(r.response)} for r in responses
            ]
            payload = {"toolResponse": {"functionResponses": items}}
        case ClientContent(turns=turns, turn_complete=turn_complete):
            content: list[JsonValue] = [
                {"role": t.role, "parts": [{"text": t.text}]} for t in turns
            ]
            payload = {"clientContent": {"turns": content, "turnComplete": turn_complete}}
        case _:
            assert_never(frame)
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(
            f"{type(frame).__name__} is not JSON-serialisable: {_snippet(str(exc))}; "
            "use only dicts, lists, strings, finite numbers, booleans and None"
        ) from exc


def _setup_body(setup: Setup) -> JsonObject:
    generation: JsonObject = {"responseModalities": ["AUDIO"]}
    if setup.voice:
        generation["speechConfig"] = {
            "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": setup.voice}}
        }
    model = setup.model if setup.model.startswith(MODEL_PREFIX) else MODEL_PREFIX + setup.model
    body: JsonObject = {"model": model, "generationConfig": generation}
    if setup.system_instruction:
        body["systemInstruction"] = {"parts": [{"text": setup.system_instruction}]}
    if setup.function_declarations:
        declarations: list[JsonValue] = []
        for d in setup.function_declarations:
            entry: JsonObject = {"name": d.name, "description": d.description}
            if d.parameters is not None:
                entry["parameters"] = dict(d.parameters)
            declarations.append(entry)
        body["tools"] = [{"functionDeclarations": declarations}]
    detection = _activity_detection_body(setup.activity_detection)
    if detection:
        # Not in the SDK's LiveClientSetup type, but sent by the SDK and accepted by the server
        # (section 8); absent means server VAD with its defaults.
        body["realtimeInputConfig"] = {"automaticActivityDetection": detection}
    if setup.session_resumption:
        resumption: JsonObject = {}
        if setup.resumption_handle is not None:
            resumption["handle"] = setup.resumption_handle
        body["sessionResumption"] = resumption  # {} asks for handles (section 6.3)
    if setup.compression is not None:
        window: JsonObject = {}
        if setup.compression.target_tokens:
            window["targetTokens"] = setup.compression.target_tokens
        compression: JsonObject = {"slidingWindow": window}
        if setup.compression.trigger_tokens:
            compression["triggerTokens"] = setup.compression.trigger_tokens
        body["contextWindowCompression"] = compression
    if setup.input_transcription:
        body["inputAudioTranscription"] = {}
    if setup.output_transcription:
        body["outputAudioTranscription"] = {}
    return body


def _activity_detection_body(detection: ActivityDetection) -> JsonObject:
    body: JsonObject = {}
    if detection.disabled:
        body["disabled"] = True
    if detection.start_sensitivity is not None:
        body["startOfSpeechSensitivity"] = f"START_SENSITIVITY_{detection.start_sensitivity.value}"
    if detection.end_sensitivity is not None:
        body["endOfSpeechSensitivity"] = f"END_SENSITIVITY_{detection.end_sensitivity.value}"
    if detection.prefix_padding_ms is not None:
        body["prefixPaddingMs"] = detection.prefix_padding_ms
    if detection.silence_duration_ms is not None:
        body["silenceDurationMs"] = detection.silence_duration_ms
    return body


def _b64(data: bytes) -> str:
    # The documented (standard) alphabet; the server accepts both (section 3.1).
    return base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------------------------
# Server events


@dataclass(frozen=True, slots=True)
class SetupComplete:
    """The server accepted `setup`; the client may now send input. `session_id` if given."""

    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of the spoken answer: PCM16LE mono at `rate` Hz (24 kHz in practice)."""

    pcm: bytes
    rate: int = OUTPUT_AUDIO_RATE


@dataclass(frozen=True, slots=True)
class TextPart:
    """A text part of the model turn (TEXT modality, rare with native audio)."""

    text: str


@dataclass(frozen=True, slots=True)
class Thought:
    """A thought summary part (`thought: true`): log it, never speak it."""

    text: str


@dataclass(frozen=True, slots=True)
class InputTranscription:
    """A piece of the transcript of what the user said; `finished` marks the last piece."""

    text: str
    finished: bool = False


@dataclass(frozen=True, slots=True)
class OutputTranscription:
    """A piece of the transcript of the spoken answer; `finished` marks the last piece."""

    text: str
    finished: bool = False


@dataclass(frozen=True, slots=True)
class GenerationComplete:
    """The model has generated the whole answer; it may still be waiting for playback."""


@dataclass(frozen=True, slots=True)
class Interrupted:
    """Barge-in: the user talked over the answer. Stop playback and flush queued audio now."""


@dataclass(frozen=True, slots=True)
class WaitingForInput:
    """The model expects the user to keep talking (serverContent.waitingForInput)."""


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """The model's turn is over; it waits for new input. `reason` is turnCompleteReason if set
    (e.g. "NEED_MORE_INPUT", "MALFORMED_FUNCTION_CALL")."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """One call the model wants answered with a `FunctionResponse` carrying the same id."""

    id: str
    name: str
    args: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model calls local functions; blocking calls wait for a toolResponse."""

    calls: tuple[FunctionCall, ...]


@dataclass(frozen=True, slots=True)
class ToolCallCancellation:
    """The user interrupted: drop these calls (do not answer them)."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoAway:
    """The server will end this connection in `time_left_seconds`: rotate to a new one."""

    time_left_seconds: float


@dataclass(frozen=True, slots=True)
class SessionResumptionUpdate:
    """A new resumption handle. Only a non-empty handle with `resumable=True` may be reused;
    `last_consumed_client_message_index` appears only with transparent resumption."""

    new_handle: str
    resumable: bool
    last_consumed_client_message_index: int | None = None


@dataclass(frozen=True, slots=True)
class UsageMetadata:
    """Token accounting; the common counts as ints (0 when absent) plus the whole raw object."""

    prompt_tokens: int
    response_tokens: int
    total_tokens: int
    raw: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IgnoredFields:
    """Fields of the message that produced no event, as dotted paths ("serverContent.x").

    Not an error: the server may send fields newer than this code. Log at debug level.
    """

    paths: tuple[str, ...]


ServerEvent: TypeAlias = (
    SetupComplete
    | AudioChunk
    | TextPart
    | Thought
    | InputTranscription
    | OutputTranscription
    | GenerationComplete
    | Interrupted
    | WaitingForInput
    | TurnComplete
    | ToolCall
    | ToolCallCancellation
    | GoAway
    | SessionResumptionUpdate
    | UsageMetadata
    | IgnoredFields
)


# --------------------------------------------------------------------------------------------
# Decoding


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
            ) from None
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise RemoteProtocolError(f"server frame is not JSON ({exc}): {_snippet(text)}") from None
    if not isinstance(parsed, dict):
        raise RemoteProtocolError(
            f"server frame is not a JSON object but {_json_type(parsed)}: {_snippet(text)}"
        )
    ignored: list[str] = []
    message = _Obj(parsed, "", ignored)
    events: list[ServerEvent] = []

    setup_complete = message.obj("setupComplete")
    if setup_complete is not None:
        events.append(SetupComplete(session_id=setup_complete.string("sessionId")))
        setup_complete.done()

    content = message.obj("serverContent")
    turn_complete: TurnComplete | None = None
    if content is not None:
        turn_complete = _decode_server_content(content, events)

    usage = message.obj("usageMetadata")
    if usage is not None:
        events.append(_decode_usage(usage))
    if turn_complete is not None:
        events.append(turn_complete)

    tool_call = message.obj("toolCall")
    if tool_call is not None:
        calls = tool_call.array("functionCalls")
        if calls:
            events.append(ToolCall(tuple(_decode_call(c) for c in calls)))
        tool_call.done()

    cancellation = message.obj("toolCallCancellation")
    if cancellation is not None:
        ids = tuple(i.text() for i in cancellation.array("ids"))
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
        events.append(GoAway(go_away.duration("timeLeft")))
        go_away.done()

    message.done()
    if ignored:
        events.append(IgnoredFields(tuple(ignored)))
    return events


def _decode_server_content(content: _Obj, events: list[ServerEvent]) -> TurnComplete | None:
    """Append the content events; return the TurnComplete to place after usage, if any."""
    turn = content.obj("modelTurn")
    if turn is not None:
        turn.consume("role")  # always "model"; carries nothing
        for part in turn.array("parts"):
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
    turn_complete = None
    if content.boolean("turnComplete"):
        turn_complete = TurnComplete(content.string("turnCompleteReason"))
    content.done()
    return turn_complete


def _decode_part(part: _Obj, events: list[ServerEvent]) -> None:
    blob = part.obj("inlineData")
    if blob is not None:
        rate = _pcm_rate(blob.string("mimeType"), blob.path("mimeType"))
        pcm = blob.base64("data")
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


def _decode_call(value: _Value) -> FunctionCall:
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


def _decode_usage(usage: _Obj) -> UsageMetadata:
    raw = usage.raw_json()
    return UsageMetadata(
        prompt_tokens=usage.integer("promptTokenCount") or 0,
        response_tokens=usage.integer("responseTokenCount") or 0,
        total_tokens=usage.integer("totalTokenCount") or 0,
        raw=raw,
    )


_PCM_TYPES = ("audio/pcm", "audio/l16")


def _pcm_rate(mime: str | None, where: str) -> int:
    """The sample rate from an inline audio mimeType like "audio/pcm;rate=24000"."""
    if mime is None:
        return OUTPUT_AUDIO_RATE  # the documented output format (section 5)
    kind, *params = (p.strip().lower() for p in mime.split(";"))
    if kind not in _PCM_TYPES:
        raise RemoteProtocolError(
            f"server message: {where} is {_snippet(mime)}, not raw PCM (audio/pcm;rate=N)"
        )
    rate = OUTPUT_AUDIO_RATE
    for param in params:
        key, _, value = param.partition("=")
        if key.strip() == "rate":
            value = value.strip()
            if not value.isdigit() or int(value) <= 0:
                raise RemoteProtocolError(
                    f"server message: {where} has an invalid rate in {_snippet(mime)}"
                )
            rate = int(value)
    return rate


_DURATION = re.compile(r"(\d+)(?:\.(\d{1,9}))?s")


def parse_duration(text: str) -> float:
    """Seconds in a protobuf Duration JSON string ("10s", "9.5s", "0.000001s").

    Raises ValueError for anything else, negative durations included.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{_snippet(text)} is not a non-negative protobuf duration like '9.5s'")
    whole, fraction = match.groups()
    nanos = int((fraction or "").ljust(9, "0"))
    return int(whole) + nanos / 1e9


def _decode_base64(text: str) -> bytes:
    # proto3 JSON bytes: standard or URL-safe alphabet, padding optional (section 3.1).
    cleaned = text.translate(_URLSAFE_TO_STANDARD)
    body = cleaned.rstrip("=")
    padding = len(cleaned) - len(body)
    if padding and (padding > 2 or len(cleaned) % 4):
        raise binascii.Error("wrong padding")  # binascii would let "QUJD=" through
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


# --------------------------------------------------------------------------------------------
# A checked view of one JSON object


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


class _Value:
    """A JSON value at a known path, with typed accessors that raise RemoteProtocolError."""

    def __init__(self, value: object, path: str, ignored: list[str]) -> None:
        self.value = value
        self.where = path
        self.ignored = ignored

    def _fail(self, expected: str) -> RemoteProtocolError:
        got = _json_type(self.value)
        if isinstance(self.value, (str, int, float)):  # scalars only: never dump a whole object
            got += " " + _snippet(str(self.value))
        return RemoteProtocolError(f"server message: {self.where} must be {expected}, got {got}")

    def obj_value(self) -> _Obj:
        if not isinstance(self.value, dict):
            raise self._fail("an object")
        return _Obj(self.value, self.where, self.ignored)

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self._fail("a string")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self._fail("true or false")
        return self.value

    def integer(self) -> int:
        # proto3 JSON writes int64 as a string and accepts it for every integer type.
        if isinstance(self.value, int) and not isinstance(self.value, bool):
            return self.value
        if isinstance(self.value, float) and self.value.is_integer():
            return int(self.value)
        if isinstance(self.value, str) and re.fullmatch(r"-?\d+", self.value.strip()):
            return int(self.value)
        raise self._fail("an integer")


class _Obj:
    """A JSON object whose fields are looked up by camelCase name (snake_case also matches).

    Every field read is marked as consumed; `done()` records the rest in `ignored`.
    """

    def __init__(self, raw: dict[str, object], path: str, ignored: list[str]) -> None:
        self._raw = raw
        self._path = path
        self._ignored = ignored
        self._keys: dict[str, str] = {}  # camelCase name -> the key as sent
        for key in raw:
            camel = _camel(key)
            if camel in self._keys:
                raise RemoteProtocolError(
                    f"server message: {self.path(camel)} is given twice "
                    f"({self._keys[camel]!r} and {key!r})"
                )
            self._keys[camel] = key
        self._consumed: set[str] = set()

    def path(self, name: str) -> str:
        if not name:
            return self._path or "the message"
        return f"{self._path}.{name}" if self._path else name

    def consume(self, name: str) -> _Value | None:
        """The field `name`, or None when it is absent or null (proto3: null = default)."""
        key = self._keys.get(name)
        if key is None:
            return None
        self._consumed.add(name)
        value = self._raw[key]
        if value is None:
            return None
        return _Value(value, self.path(name), self._ignored)

    def obj(self, name: str) -> _Obj | None:
        value = self.consume(name)
        return None if value is None else value.obj_value()

    def string(self, name: str) -> str | None:
        value = self.consume(name)
        return None if value is None else value.text()

    def boolean(self, name: str) -> bool:
        value = self.consume(name)
        return False if value is None else value.boolean()

    def integer(self, name: str) -> int | None:
        value = self.consume(name)
        return None if value is None else value.integer()

    def array(self, name: str) -> list[_Value]:
        value = self.consume(name)
        if value is None:
            return []
        if not isinstance(value.value, list):
            raise value._fail("an array")
        return [
            _Value(item, f"{value.where}[{i}]", self._ignored) for i, item in enumerate(value.value)
        ]

    def base64(self, name: str) -> bytes:
        value = self.consume(name)
        if value is None:
            return b""
        text = value.text()
        try:
            return _decode_base64(text)
        except (binascii.Error, ValueError):
            raise RemoteProtocolError(
                f"server message: {value.where} is not valid base64 "
                f"({len(text)} characters, starting {_snippet(text, 24)})"
            ) from None

    def duration(self, name: str) -> float:
        value = self.consume(name)
        if value is None:
            return 0.0  # proto3 JSON omits a zero duration
        if isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            seconds = float(value.value)  # liberal: plain seconds
            if seconds < 0 or not math.isfinite(seconds):
                raise value._fail("a non-negative duration")
            return seconds
        try:
            return parse_duration(value.text())
        except ValueError:
            raise value._fail("a protobuf duration like '9.5s'") from None

    def json_object(self, name: str) -> dict[str, JsonValue] | None:
        value = self.consume(name)
        if value is None:
            return None
        if not isinstance(value.value, dict):
            raise value._fail("an object")
        return _as_json_object(value.value)

    def raw_json(self) -> dict[str, JsonValue]:
        """The whole object as plain JSON, every field counted as consumed."""
        self._consumed.update(self._keys)
        return _as_json_object(self._raw)

    def done(self) -> None:
        for name in self._keys:
            if name not in self._consumed:
                self._ignored.append(self.path(name))


def _as_json_object(raw: dict[str, object]) -> dict[str, JsonValue]:
    # json.loads only produces JSON values; this rebuilds them with a precise static type.
    return {key: _as_json(value) for key, value in raw.items()}


def _as_json(value: object) -> JsonValue:
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"not a JSON value: {type(value).__name__}")  # unreachable from json.loads


# --------------------------------------------------------------------------------------------
# Helpers


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _snippet(text: str, limit: int = _SNIPPET) -> str:
    """`text` quoted on one line, cut to `limit` characters so no payload floods a log."""
    flat = repr(text[: limit * 2].replace("\n", " ").replace("\r", " "))
    if len(flat) <= limit and len(text) <= limit * 2:
        return flat
    return flat[: limit - 3] + "..."
