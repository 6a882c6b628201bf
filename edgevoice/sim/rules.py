"""Semantic checks the service makes after a frame has parsed: setup, realtimeInput, toolResponse.

Each check raises `FrameRejected` with the close the service sends (see reasons.py for which
texts are verbatim and which are the generic INVALID_ARGUMENT text). Checks that depend on the
session's state (setup first, VAD rules, pending tool calls) live in the session instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgevoice.sim import reasons
from edgevoice.sim.models import (
    RULES,
    Behavior,
    ClientContent,
    Family,
    FamilyRules,
    Proactivity,
    Thinking,
    model_id,
)
from edgevoice.sim.proto import FrameRejected, ParseContext
from edgevoice.sim.reasons import CloseSpec

# "audio/pcm" alone is 16 kHz (section 3.2: the SDK's cookbook and many clients send it).
_AUDIO_MIME = re.compile(r"^audio/pcm(?:\s*;\s*rate\s*=\s*(\d{1,9}))?\s*$", re.IGNORECASE)
DEFAULT_INPUT_RATE = 16_000
_LEVELS_38_THINKING = ("LOW", "MEDIUM", "HIGH")
# FunctionDeclaration.name: letters, digits, underscores, dots, colons, dashes; max 64; must
# start with a letter or an underscore (the Gemini API's function-name rule).
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


def _invalid(detail: str, reason: str = reasons.GENERIC_INVALID) -> FrameRejected:
    return FrameRejected(CloseSpec(reasons.INVALID_ARGUMENT, reason, detail))


@dataclass(frozen=True)
class SetupInfo:
    """What the session needs from an accepted setup message."""

    model: str  # the resource name as sent, "models/<id>"
    family: Family
    auto_vad: bool  # automatic activity detection on (the default)
    silence_ms: int | None  # automaticActivityDetection.silenceDurationMs
    prefix_ms: int | None  # automaticActivityDetection.prefixPaddingMs
    interrupts: bool  # activityHandling != NO_INTERRUPTION
    resumption: bool  # sessionResumption present: send sessionResumptionUpdate messages
    handle: str  # the handle to resume, "" for a new session
    input_transcription: bool
    output_transcription: bool
    history_in_client_content: bool  # historyConfig.initialHistoryInClientContent
    proactive_audio: bool  # the model may answer a turn with silence (3.8 always; 2.5 opt-in)
    functions: dict[str, bool] = field(default_factory=dict)  # declared name -> call blocks

    @property
    def rules(self) -> FamilyRules:
        return RULES[self.family]


def _check_thinking(generation: dict[str, Any], rules: FamilyRules) -> None:
    """Thinking config per family (models.py; section 2.2 and 9)."""
    thinking: dict[str, Any] | None = generation.get("thinkingConfig")
    level = (thinking or {}).get("thinkingLevel")
    budget = (thinking or {}).get("thinkingBudget")
    name = rules.family.value
    if rules.thinking is Thinking.BUDGET and level is not None:
        raise _invalid(f"thinkingLevel on a {name} model", reasons.THINKING_LEVEL_UNSUPPORTED)
    if rules.thinking is Thinking.LEVEL and level is not None and budget is not None:
        raise _invalid("thinkingLevel and thinkingBudget together", reasons.FAMILY_RULE_REASON)
    if rules.thinking is Thinking.NONE and thinking is not None:
        if level is not None:
            raise _invalid(f"thinkingLevel on {name}", reasons.THINKING_LEVEL_UNSUPPORTED)
        raise _invalid(f"{name} takes no thinkingConfig (section 9)", reasons.FAMILY_RULE_REASON)
    if rules.thinking is Thinking.LEVEL_REQUIRED:
        if level is None or budget is not None:
            raise _invalid(
                f"{name} needs thinkingConfig.thinkingLevel LOW, MEDIUM or HIGH and no budget",
                reasons.FAMILY_RULE_REASON,
            )
        if level not in _LEVELS_38_THINKING:
            raise _invalid(f"thinkingLevel {level} on {name}", reasons.THINKING_LEVEL_UNSUPPORTED)


def _proactive_audio(body: dict[str, Any], rules: FamilyRules) -> bool:
    proactivity: dict[str, Any] | None = body.get("proactivity")
    wanted = (proactivity or {}).get("proactiveAudio")
    if rules.proactivity is Proactivity.ALWAYS_ON:
        if wanted is False:  # section 9: "proactiveAudio:false is an error" on 3.8
            raise _invalid(
                f"proactiveAudio false on {rules.family.value} (always on)",
                reasons.FAMILY_RULE_REASON,
            )
        return True
    return bool(wanted)


def _functions(body: dict[str, Any], rules: FamilyRules) -> dict[str, bool]:
    functions: dict[str, bool] = {}
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            name = declaration.get("name", "")
            if not _FUNCTION_NAME.match(name):
                raise _invalid(f"invalid function name {name!r}")
            behavior = declaration.get("behavior", "")
            if behavior in ("BLOCKING", "NON_BLOCKING") and (
                Behavior(behavior) not in rules.behaviors
            ):
                raise _invalid(
                    f"function {name!r}: behavior {behavior} on {rules.family.value}",
                    reasons.FAMILY_RULE_REASON,
                )
            functions[name] = rules.blocks(behavior)
    return functions


def check_setup(body: dict[str, Any], ctx: ParseContext, models: Mapping[str, Family]) -> SetupInfo:
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
    family = models[ident]
    rules = RULES[family]
    generation = body.get("generationConfig", {})
    modalities = generation.get("responseModalities", [])
    if "AUDIO" not in modalities:
        # Native-audio models speak; no modality reads as TEXT in proto3 (field reports).
        raise _invalid(f"responseModalities is {modalities}", reasons.NON_AUDIO_REQUEST)
    if len(modalities) != 1:
        raise _invalid(f"exactly one response modality is allowed, got {modalities}")
    _check_thinking(generation, rules)
    proactive = _proactive_audio(body, rules)
    for index, part in enumerate(body.get("systemInstruction", {}).get("parts", [])):
        if set(part) - {"text", "thought"}:
            raise _invalid(f"systemInstruction.parts[{index}] is not a text part")
    functions = _functions(body, rules)
    realtime = body.get("realtimeInputConfig", {})
    detection = realtime.get("automaticActivityDetection", {})
    resumption = body.get("sessionResumption")
    return SetupInfo(
        model=model,
        family=family,
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
        proactive_audio=proactive,
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
        rate = int(match.group(1)) if match.group(1) else DEFAULT_INPUT_RATE
        if not reasons.MIN_INPUT_RATE <= rate <= reasons.MAX_INPUT_RATE:
            raise _invalid(
                f"{where}: audio rate {rate} Hz is outside {reasons.MIN_INPUT_RATE}-"
                f"{reasons.MAX_INPUT_RATE} Hz (unverified range, reasons.py)"
            )
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


def check_client_content(body: dict[str, Any], rules: FamilyRules) -> list[dict[str, Any]]:
    """The turns of a clientContent message, each with role user or model.

    A turn without a role counts as the user's, except on 3.8, which wants explicit roles
    (section 9; the refusal text is not known: the generic one).
    """
    turns: list[dict[str, Any]] = body.get("turns", [])
    for index, turn in enumerate(turns):
        if "role" not in turn and rules.client_content is ClientContent.ANY_TIME_WITH_ROLES:
            raise _invalid(
                f"clientContent.turns[{index}] has no role ({rules.family.value} wants one)"
            )
        if turn.get("role", "user") not in ("user", "model"):
            raise _invalid(f"clientContent.turns[{index}].role is {turn['role']!r}", BAD_ROLE)
    return turns
