"""Client frames: what edgevoice sends to Gemini Live, and `encode_client_frame`. Core: no I/O.

Build a frame dataclass (`Setup`, `AudioInput`, `TextInput`, `ActivityStart`, `ActivityEnd`,
`AudioStreamEnd`, `ToolResponse`, `ClientContent`) and turn it into the text of one WebSocket
text frame with `encode_client_frame`. The output is compact camelCase JSON, the form the API
reference documents (docs/live-protocol.md sections 2-3), with exactly one top-level key.

Every frame validates itself when it is built and raises `LocalProtocolError` for what the
protocol does not allow. `Setup` also applies the rules of the model's family
(`edgevoice.live.models`, protocol doc section 9) and the API version it is sent to, and raises
`SetupError` (a LocalProtocolError) naming the field and the model, so a device learns about a
setting its model cannot take before it connects, not from a 1007 at the first press.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, assert_never

from edgevoice.errors import LocalProtocolError
from edgevoice.live.json_view import JsonObject, JsonValue, snippet
from edgevoice.live.models import MODEL_PREFIX, THINKING_LEVELS, Behavior, rules_for
from edgevoice.live.setup_rules import SetupError, check_family, setup_body

INPUT_AUDIO_RATE = 16_000  # Hz: the Live API's native input rate (section 5)
API_VERSIONS = ("v1beta", "v1alpha")


# --------------------------------------------------------------------------------------------
# Parts of the setup frame


class Sensitivity(enum.Enum):
    """Server VAD sensitivity for the start or the end of speech (setup.realtimeInputConfig)."""

    HIGH = "HIGH"  # the Gemini API default: detects speech sooner, ends turns sooner
    LOW = "LOW"


class ActivityHandling(enum.Enum):
    """realtimeInputConfig.activityHandling: what the start of user activity does to an answer
    in progress."""

    START_OF_ACTIVITY_INTERRUPTS = "START_OF_ACTIVITY_INTERRUPTS"  # barge-in (server default)
    NO_INTERRUPTION = "NO_INTERRUPTION"  # the model finishes its answer


class TurnCoverage(enum.Enum):
    """realtimeInputConfig.turnCoverage: which input counts as part of the user's turn. Each
    family has its own default (`FamilyRules.default_turn_coverage`)."""

    TURN_INCLUDES_ONLY_ACTIVITY = "TURN_INCLUDES_ONLY_ACTIVITY"
    TURN_INCLUDES_ALL_INPUT = "TURN_INCLUDES_ALL_INPUT"
    TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO = "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"


class Scheduling(enum.Enum):
    """FunctionResponse.scheduling: when the model uses the result of a non-blocking call."""

    SILENT = "SILENT"  # take it in without speaking
    WHEN_IDLE = "WHEN_IDLE"  # speak about it once the current answer is over
    INTERRUPT = "INTERRUPT"  # stop the current answer and speak about it now


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
            if value is not None and not 0 <= value <= _INT32_MAX:
                raise LocalProtocolError(f"{name} must be 0..{_INT32_MAX} ms, got {value}")


_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class SlidingWindowCompression:
    """setup.contextWindowCompression with a sliding window; 0 leaves a value to the server.

    The server defaults trigger_tokens to 80 % of the context and target_tokens to half the
    trigger (section 2.2).
    """

    trigger_tokens: int = 0
    target_tokens: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.trigger_tokens <= _INT64_MAX and 0 <= self.target_tokens <= _INT64_MAX):
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
    "properties": {...}}`), or None for a function without arguments. `behavior` says whether
    the model waits for the result (BLOCKING) or goes on talking (NON_BLOCKING); None leaves it
    to the model family's default (protocol doc sections 3.4 and 9). Whether the family accepts
    the behaviour is checked by the `Setup` that carries the declaration.
    """

    name: str
    description: str
    parameters: Mapping[str, JsonValue] | None = None
    behavior: Behavior | None = None

    def __post_init__(self) -> None:
        if not _FUNCTION_NAME.fullmatch(self.name):
            raise LocalProtocolError(
                f"function name {snippet(self.name)} is invalid: use letters, digits, _ . - "
                "(at most 64, not starting with a digit)"
            )


# Model ids are resource names: letters, digits, "." "-" "_" (section 9 lists them all so).
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# BCP-47 as the transcription config takes it ("en-US", "de", "zh-Hant-TW", "es-419").
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,4}")


@dataclass(frozen=True, slots=True)
class Setup:
    """The first and only `setup` frame of a connection (section 2).

    What is sent:

    - `model`: a model id, with or without the "models/" prefix. Its family
      (`edgevoice.live.models`) decides which of the options below it takes.
    - `voice`: prebuilt voice name; `system_instruction`: text; None for the server default.
    - `input_transcription` / `output_transcription`: ask for transcripts.
      `transcription_language_codes` (BCP-47, e.g. ("de-DE",)) hints the input transcription
      at the languages spoken (inputAudioTranscription.languageCodes); needs input_transcription.
    - `session_resumption`: ask for handles; `resumption_handle` resumes an earlier session
      (section 6.3; needs session_resumption).
    - `compression`: sliding-window context compression (sessions are otherwise capped).
    - `activity_detection`: server VAD on (tunable) or off (manual turns, the button path);
      `activity_handling` and `turn_coverage`: realtimeInputConfig options, None = not sent
      (the server's or the family's default).
    - `thinking_budget` (tokens; 0 = off, the low-latency choice; -1 = dynamic): gemini-2.5.
      `thinking_level` ("minimal", "low", "medium", "high"; any case): gemini-3.1 (optional)
      and gemini-3.8 extended thinking (required: low, medium or high). gemini-3.8 takes no
      thinking setting at all.
    - `proactive_audio`: the model may stay silent when speech is not meant for it. gemini-2.5:
      an option on v1alpha only; gemini-3.8: always on (True is accepted and not sent, False
      is refused); gemini-3.1: not supported (True refused). False where proactive audio does
      not exist is what you get anyway: accepted and not sent.
    - `affective_dialog`: gemini-2.5 on v1alpha only; True is refused elsewhere, False is
      accepted and not sent where the feature does not exist.
    - `function_declarations`: the tools; each declaration's `behavior` is checked against the
      family (NON_BLOCKING refused on 3.1, BLOCKING on 3.8 extended thinking) and sent only
      when it differs from the family default.

    What is not sent, but checked against: `api_version` ("v1beta" or "v1alpha": the endpoint
    this setup goes to; `proactivity` and `enableAffectiveDialog` exist on v1alpha only) and
    `constrained_endpoint` (the ephemeral-token endpoint, which refuses `proactivity`).

    A model id edgevoice does not know has no family: every option is sent as given and only
    the family-independent checks apply. The response modality is always AUDIO.

    Raises `SetupError` (a LocalProtocolError) naming the field (and the model, for a family
    rule) when the setup cannot work.
    """

    model: str
    voice: str | None = None
    system_instruction: str | None = None
    input_transcription: bool = False
    output_transcription: bool = False
    transcription_language_codes: tuple[str, ...] = ()
    session_resumption: bool = False
    resumption_handle: str | None = None
    compression: SlidingWindowCompression | None = None
    activity_detection: ActivityDetection = field(default_factory=ActivityDetection)
    activity_handling: ActivityHandling | None = None
    turn_coverage: TurnCoverage | None = None
    thinking_budget: int | None = None
    thinking_level: str | None = None
    proactive_audio: bool | None = None
    affective_dialog: bool | None = None
    function_declarations: tuple[FunctionDeclaration, ...] = ()
    api_version: str = "v1beta"
    constrained_endpoint: bool = False

    def __post_init__(self) -> None:
        if not _MODEL_ID.fullmatch(self.model.removeprefix(MODEL_PREFIX)):
            raise SetupError(
                "model",
                f"model {snippet(self.model)} is not a model id; use e.g. 'gemini-3.8-live'",
            )
        if self.resumption_handle is not None and not self.session_resumption:
            raise SetupError("resumption_handle", "a resumption handle needs session_resumption")
        if self.resumption_handle == "":
            raise SetupError("resumption_handle", "resumption handle is empty; pass None")
        names = [d.name for d in self.function_declarations]
        if len(set(names)) != len(names):
            raise SetupError(
                "function_declarations", f"function declarations repeat a name: {names}"
            )
        if self.api_version not in API_VERSIONS:
            raise SetupError(
                "api_version",
                f"api_version {snippet(self.api_version)} is not one of {list(API_VERSIONS)}",
            )
        self._check_languages()
        self._check_thinking_shape()
        rules = rules_for(self.model)
        if rules is not None:
            check_family(self, rules)  # a family takes one of the two thinking settings at most
        elif self.thinking_budget is not None and self.thinking_level is not None:
            raise SetupError(
                "thinking_level",
                "thinking_budget and thinking_level are two ways to say one thing; set only the "
                "one the model takes",
            )

    def _check_languages(self) -> None:
        codes = self.transcription_language_codes
        if not codes:
            return
        if not self.input_transcription:
            raise SetupError(
                "transcription_language_codes",
                "transcription_language_codes apply to the input transcription; "
                "turn input_transcription on or drop the codes",
            )
        for code in codes:
            if not _LANGUAGE_CODE.fullmatch(code):
                raise SetupError(
                    "transcription_language_codes",
                    f"transcription language code {snippet(code)} is not a BCP-47 code "
                    "like 'en-US' or 'de'",
                )
        if len({c.lower() for c in codes}) != len(codes):
            raise SetupError(
                "transcription_language_codes", f"transcription language codes repeat: {codes}"
            )

    def _check_thinking_shape(self) -> None:
        budget, level = self.thinking_budget, self.thinking_level
        if budget is not None and not -1 <= budget <= _INT32_MAX:
            raise SetupError(
                "thinking_budget",
                f"thinking_budget must be a number of tokens >= 0 (0 = off) or -1 (dynamic), "
                f"got {budget}",
            )
        if level is not None:
            if level.lower() not in THINKING_LEVELS:
                raise SetupError(
                    "thinking_level",
                    f"thinking_level {snippet(level)} is not one of {list(THINKING_LEVELS)}",
                )
            object.__setattr__(self, "thinking_level", level.lower())

    @property
    def bare_model(self) -> str:
        """The model id without the "models/" prefix."""
        return self.model.removeprefix(MODEL_PREFIX)

    @property
    def manual_activity(self) -> bool:
        """Server VAD is off: turns are bracketed by activityStart/activityEnd."""
        return self.activity_detection.disabled

    def declared_behavior(self, name: str) -> Behavior | None:
        """The `behavior` the function `name` was declared with (None: unset or undeclared)."""
        for declaration in self.function_declarations:
            if declaration.name == name:
                return declaration.behavior
        return None


# --------------------------------------------------------------------------------------------
# The other client frames


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
    """One answer to a `FunctionCall`: the call's id and name, and a JSON object result.

    `scheduling` is for answers to non-blocking calls only (`LiveSession` checks that). On the
    wire it is the top-level `FunctionResponse.scheduling` field of the SDK's type, not a key
    inside `response` as the tools guide shows it: the protocol doc (section 3.4) calls the
    placement ambiguous, the SDK type is the schema we validate against, and a key inside
    `response` would reach the model as part of the function's result.
    """

    id: str
    name: str
    response: Mapping[str, JsonValue]
    scheduling: Scheduling | None = None

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


# --------------------------------------------------------------------------------------------
# Encoding


def encode_client_frame(frame: ClientFrame) -> str:
    """The text of one WebSocket text frame carrying `frame`: compact camelCase JSON.

    Raises LocalProtocolError when a tool response is not JSON-serialisable; nothing else can
    fail here because the frame classes validate themselves when they are built.
    """
    payload: JsonObject
    match frame:
        case Setup():
            payload = {"setup": setup_body(frame)}
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
            payload = {"toolResponse": {"functionResponses": [_response(r) for r in responses]}}
        case ClientContent(turns=turns, turn_complete=turn_complete):
            content: list[JsonValue] = [
                {"role": t.role, "parts": [{"text": t.text}]} for t in turns
            ]
            payload = {"clientContent": {"turns": content, "turnComplete": turn_complete}}
        case _:
            assert_never(frame)
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise LocalProtocolError(
            f"{type(frame).__name__} is not JSON-serialisable: {snippet(str(exc))}; "
            "use only dicts, lists, strings, finite numbers, booleans and None"
        ) from exc


def _response(response: FunctionResponse) -> JsonValue:
    body: JsonObject = {"id": response.id, "name": response.name}
    body["response"] = dict(response.response)
    if response.scheduling is not None:
        body["scheduling"] = response.scheduling.value  # top level: see FunctionResponse
    return body


def _b64(data: bytes) -> str:
    # The documented (standard) alphabet; the server accepts both (section 3.1).
    return base64.b64encode(data).decode("ascii")
