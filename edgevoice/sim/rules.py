"""Semantic checks the service makes after a frame has parsed: setup, realtimeInput, toolResponse.

Each check raises `FrameRejected` with the close the service sends (see reasons.py for which
texts are verbatim and which are the generic INVALID_ARGUMENT text). Checks that depend on the
session's state (setup first, VAD rules, pending tool calls) live in the session instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from edgevoice.sim import reasons
from edgevoice.sim.models import is_gemini_31, model_id
from edgevoice.sim.proto import FrameRejected, ParseContext
from edgevoice.sim.reasons import CloseSpec

_AUDIO_MIME = re.compile(r"^audio/pcm\s*;\s*rate\s*=\s*(\d+)\s*$", re.IGNORECASE)
# FunctionDeclaration.name: letters, digits, underscores, dots, colons, dashes; max 64; must
# start with a letter or an underscore (the Gemini API's function-name rule).
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
MAX_INPUT_RATE = 192_000


def _invalid(detail: str, reason: str = reasons.GENERIC_INVALID) -> FrameRejected:
    return FrameRejected(CloseSpec(reasons.INVALID_ARGUMENT, reason, detail))


@dataclass(frozen=True)
class SetupInfo:
    """What the session needs from an accepted setup message."""

    model: str  # the resource name as sent, "models/<id>"
    is_31: bool
    auto_vad: bool  # automatic activity detection on (the default)
    silence_ms: int | None  # automaticActivityDetection.silenceDurationMs
    prefix_ms: int | None  # automaticActivityDetection.prefixPaddingMs
    interrupts: bool  # activityHandling != NO_INTERRUPTION
    resumption: bool  # sessionResumption present: send sessionResumptionUpdate messages
    handle: str  # the handle to resume, "" for a new session
    input_transcription: bool
    output_transcription: bool
    history_in_client_content: bool  # historyConfig.initialHistoryInClientContent
    functions: dict[str, str] = field(default_factory=dict)  # declared name -> behavior


def check_setup(body: dict[str, Any], ctx: ParseContext, models: Collection[str]) -> SetupInfo:
    """Check a parsed setup against the model and the Live rules; return what the session needs."""
    model = body.get("model", "")
    if not model:
        raise _invalid("setup.model is missing or empty")
    ident = model_id(model)
    if ident is None or ident not in models:
        raise FrameRejected(
            CloseSpec(
                reasons.NOT_FOUND,
                reasons.model_not_found(model, ctx.api_version),
                f"unknown model {model!r} (known: {', '.join(sorted(models))})",
            )
        )
    on_31 = is_gemini_31(model)
    generation = body.get("generationConfig", {})
    modalities = generation.get("responseModalities", [])
    if "AUDIO" not in modalities:
        # Native-audio models speak; no modality reads as TEXT in proto3 (field reports).
        raise _invalid(f"responseModalities is {modalities}", reasons.NON_AUDIO_REQUEST)
    if len(modalities) != 1:
        raise _invalid(f"exactly one response modality is allowed, got {modalities}")
    thinking = generation.get("thinkingConfig", {})
    if "thinkingLevel" in thinking and not on_31:
        raise _invalid("thinkingLevel on a 2.5 model", reasons.THINKING_LEVEL_UNSUPPORTED)
    for index, part in enumerate(body.get("systemInstruction", {}).get("parts", [])):
        if set(part) - {"text", "thought"}:
            raise _invalid(f"systemInstruction.parts[{index}] is not a text part")
    functions: dict[str, str] = {}
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            name = declaration.get("name", "")
            if not _FUNCTION_NAME.match(name):
                raise _invalid(f"invalid function name {name!r}")
            functions[name] = declaration.get("behavior", "UNSPECIFIED")
    realtime = body.get("realtimeInputConfig", {})
    detection = realtime.get("automaticActivityDetection", {})
    resumption = body.get("sessionResumption")
    return SetupInfo(
        model=model,
        is_31=on_31,
        auto_vad=not detection.get("disabled", False),
        silence_ms=detection.get("silenceDurationMs"),
        prefix_ms=detection.get("prefixPaddingMs"),
        interrupts=realtime.get("activityHandling") != "NO_INTERRUPTION",
        resumption=resumption is not None,
        handle=(resumption or {}).get("handle", ""),
        input_transcription="inputAudioTranscription" in body,
        output_transcription="outputAudioTranscription" in body,
        history_in_client_content=body.get("historyConfig", {}).get(
            "initialHistoryInClientContent", False
        ),
        functions=functions,
    )


# --- realtimeInput -------------------------------------------------------------------------


@dataclass(frozen=True)
class Audio:
    pcm: bytes  # 16-bit little-endian mono
    rate: int


@dataclass(frozen=True)
class Video:
    mime_type: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ActivityStart:
    pass


@dataclass(frozen=True)
class ActivityEnd:
    pass


@dataclass(frozen=True)
class AudioStreamEnd:
    ended: bool  # false is allowed and means nothing


RealtimeItem = Audio | Video | Text | ActivityStart | ActivityEnd | AudioStreamEnd


def _blob(blob: dict[str, Any], where: str) -> Audio | Video:
    mime = blob.get("mimeType", "")
    data = blob.get("data", b"")
    match = _AUDIO_MIME.match(mime)
    if match:
        rate = int(match.group(1))
        if not 0 < rate <= MAX_INPUT_RATE:
            raise _invalid(f"{where}: audio rate {rate} Hz is out of range")
        if len(data) % 2:
            raise _invalid(f"{where}: {len(data)} bytes is not whole 16-bit samples")
        return Audio(data, rate)
    if mime.lower().startswith("image/"):
        return Video(mime)
    raise _invalid(
        f"{where}: mimeType {mime!r} is not audio/pcm;rate=<Hz> (audio) or image/* (video)"
    )


def check_realtime_input(body: dict[str, Any]) -> RealtimeItem:
    """One realtimeInput message -> the single thing it carries (section 3.2)."""
    if len(body) != 1:
        raise _invalid(f"realtimeInput must set exactly one field, got {sorted(body)}")
    ((key, value),) = body.items()
    if key == "audio":
        item = _blob(value, "realtimeInput.audio")
        if not isinstance(item, Audio):
            raise _invalid("realtimeInput.audio carries an image")
        return item
    if key == "video":
        item = _blob(value, "realtimeInput.video")
        if not isinstance(item, Video):
            raise _invalid("realtimeInput.video carries audio")
        return item
    if key == "mediaChunks":
        if not value:
            raise _invalid("realtimeInput.mediaChunks is empty")
        return _blob(value[0], "realtimeInput.mediaChunks[0]")  # deprecated: only the first
    if key == "text":
        return Text(value)
    if key == "activityStart":
        return ActivityStart()
    if key == "activityEnd":
        return ActivityEnd()
    return AudioStreamEnd(bool(value))


# --- toolResponse and clientContent ---------------------------------------------------------


def check_tool_response(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The function responses, each with the mandatory id (section 3.4) and a name."""
    responses: list[dict[str, Any]] = body.get("functionResponses", [])
    for index, response in enumerate(responses):
        if not response.get("id"):
            raise _invalid(f"toolResponse.functionResponses[{index}] has no id")
        if not response.get("name"):
            raise _invalid(f"toolResponse.functionResponses[{index}] has no name")
    return responses


# Gemini API generateContent's text for a bad role; the Live text is not known (unverified).
BAD_ROLE = "Please use a valid role: user, model."


def check_client_content(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The turns of a clientContent message, each with role user or model (or none)."""
    turns: list[dict[str, Any]] = body.get("turns", [])
    for index, turn in enumerate(turns):
        if turn.get("role", "user") not in ("user", "model"):
            raise _invalid(f"clientContent.turns[{index}].role is {turn['role']!r}", BAD_ROLE)
    return turns
