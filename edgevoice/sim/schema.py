"""The field tables of the Live API client messages, as the simulator's parser enforces them.

Sources, in order of weight: the `google.ai.generativelanguage.v1beta` protos
(generative_service.proto, content.proto), the API reference (ai.google.dev/api/live), the
fields docs/live-protocol.md section 2.2 lists, and what google-genai 3.6.1 puts on the wire in
Gemini API mode. A field the real service is not known to accept on the Live API is left out, so
the parser refuses it as an unknown name, like the service does.

Deliberately left out (refused as unknown names), each with a reason:
- `GenerationConfig`: stopSequences, responseMimeType, responseSchema, responseJsonSchema,
  responseLogprobs, logprobs (the proto says Live does not support them), translationConfig,
  imageConfig, routingConfig, audioTimestamp;
- `BidiGenerateContentSetup`: explicitVadSignal (Vertex only; the SDK refuses it), avatarConfig,
  labels (SDK only, no evidence the Gemini API takes them), prefixTurns;
- `SessionResumptionConfig.transparent` (Vertex only: section 2.2);
- `AudioTranscriptionConfig` fields other than languageCodes (the proto defines it empty and
  section 2.2 uses `{}`; languageCodes is the newer addition section 2.2 names);
- `Blob.displayName` (the SDK refuses it in Gemini API mode);
- `contextUpdate` at the top level (section 3.5 allows refusing it).

Enum values are matched exactly by name; integers are accepted only for enums whose numbering
the proto gives (`numbered=True`), because proto3 JSON parsers accept both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Kind(enum.Enum):
    MESSAGE = "message"
    STRING = "TYPE_STRING"
    BOOL = "TYPE_BOOL"
    INT32 = "TYPE_INT32"
    INT64 = "TYPE_INT64"
    FLOAT = "TYPE_FLOAT"
    DOUBLE = "TYPE_DOUBLE"
    BYTES = "TYPE_BYTES"
    ENUM = "enum"
    STRUCT = "google.protobuf.Struct"  # any JSON object
    VALUE = "google.protobuf.Value"  # any JSON value
    TIMESTAMP = "google.protobuf.Timestamp"  # RFC 3339 string


class Gate(enum.Enum):
    """Why a field exists only for some endpoints or model families (section 2.2, models.py)."""

    PROACTIVITY = "proactivity"  # 2.5: v1alpha BidiGenerateContent only; 3.1 never; 3.8 always
    AFFECTIVE_DIALOG = "affective_dialog"  # 2.5 on v1alpha only; gone on 3.1 and 3.8


@dataclass(frozen=True)
class EnumType:
    name: str  # relative to the package, e.g. "GenerationConfig.Modality"
    values: tuple[str, ...]  # index == number when `numbered`
    numbered: bool = True


@dataclass(frozen=True)
class Field:
    name: str  # the proto field name (snake_case)
    kind: Kind
    type_name: str = ""  # message name for MESSAGE (and map values), enum name for ENUM
    repeated: bool = False
    is_map: bool = False  # map<string, type_name>
    oneof: str = ""
    gate: Gate | None = None

    @property
    def json_name(self) -> str:
        head, *rest = self.name.split("_")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Message:
    name: str  # relative to the package, e.g. "BidiGenerateContentSetup"
    fields: tuple[Field, ...] = ()
    by_key: dict[str, Field] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        keys: dict[str, Field] = {}
        for item in self.fields:
            keys[item.name] = item
            keys[item.json_name] = item
        object.__setattr__(self, "by_key", keys)


def _f(
    name: str,
    kind: Kind,
    type_name: str = "",
    *,
    repeated: bool = False,
    is_map: bool = False,
    oneof: str = "",
    gate: Gate | None = None,
) -> Field:
    return Field(name, kind, type_name, repeated, is_map, oneof, gate)


S, B, I32, I64 = Kind.STRING, Kind.BOOL, Kind.INT32, Kind.INT64
F, D, BY, E, M = Kind.FLOAT, Kind.DOUBLE, Kind.BYTES, Kind.ENUM, Kind.MESSAGE

ENUMS: dict[str, EnumType] = {
    e.name: e
    for e in (
        EnumType("GenerationConfig.Modality", ("MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO")),
        EnumType(
            "GenerationConfig.MediaResolution",
            (
                "MEDIA_RESOLUTION_UNSPECIFIED",
                "MEDIA_RESOLUTION_LOW",
                "MEDIA_RESOLUTION_MEDIUM",
                "MEDIA_RESOLUTION_HIGH",
            ),
        ),
        EnumType(
            "ThinkingConfig.ThinkingLevel",
            ("THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"),
            numbered=False,
        ),
        EnumType(
            "RealtimeInputConfig.AutomaticActivityDetection.StartSensitivity",
            ("START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"),
        ),
        EnumType(
            "RealtimeInputConfig.AutomaticActivityDetection.EndSensitivity",
            ("END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"),
        ),
        EnumType(
            "RealtimeInputConfig.ActivityHandling",
            ("ACTIVITY_HANDLING_UNSPECIFIED", "START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"),
        ),
        EnumType(
            "RealtimeInputConfig.TurnCoverage",
            (
                "TURN_COVERAGE_UNSPECIFIED",
                "TURN_INCLUDES_ONLY_ACTIVITY",
                "TURN_INCLUDES_ALL_INPUT",
                "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
            ),
            numbered=False,
        ),
        EnumType(
            "Type",
            (
                "TYPE_UNSPECIFIED",
                "STRING",
                "NUMBER",
                "INTEGER",
                "BOOLEAN",
                "ARRAY",
                "OBJECT",
                "NULL",
            ),
        ),
        EnumType(
            "FunctionDeclaration.Behavior",
            ("UNSPECIFIED", "BLOCKING", "NON_BLOCKING"),
            numbered=False,
        ),
        EnumType(
            "FunctionResponse.Scheduling",
            ("SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"),
            numbered=False,
        ),
        EnumType("ExecutableCode.Language", ("LANGUAGE_UNSPECIFIED", "PYTHON")),
        EnumType(
            "CodeExecutionResult.Outcome",
            ("OUTCOME_UNSPECIFIED", "OUTCOME_OK", "OUTCOME_FAILED", "OUTCOME_DEADLINE_EXCEEDED"),
        ),
        EnumType(
            "HarmCategory",
            (
                "HARM_CATEGORY_UNSPECIFIED",
                "HARM_CATEGORY_DEROGATORY",
                "HARM_CATEGORY_TOXICITY",
                "HARM_CATEGORY_VIOLENCE",
                "HARM_CATEGORY_SEXUAL",
                "HARM_CATEGORY_MEDICAL",
                "HARM_CATEGORY_DANGEROUS",
                "HARM_CATEGORY_HARASSMENT",
                "HARM_CATEGORY_HATE_SPEECH",
                "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                "HARM_CATEGORY_DANGEROUS_CONTENT",
                "HARM_CATEGORY_CIVIC_INTEGRITY",
            ),
        ),
        EnumType(
            "SafetySetting.HarmBlockThreshold",
            (
                "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
                "BLOCK_LOW_AND_ABOVE",
                "BLOCK_MEDIUM_AND_ABOVE",
                "BLOCK_ONLY_HIGH",
                "BLOCK_NONE",
                "OFF",
            ),
        ),
    )
}

_PART_ONEOF = "data"

MESSAGES: dict[str, Message] = {
    m.name: m
    for m in (
        # --- envelope (section 3.1): exactly one of these four --------------------------------
        Message(
            "BidiGenerateContentClientMessage",
            (
                _f("setup", M, "BidiGenerateContentSetup", oneof="message_type"),
                _f("client_content", M, "BidiGenerateContentClientContent", oneof="message_type"),
                _f("realtime_input", M, "BidiGenerateContentRealtimeInput", oneof="message_type"),
                _f("tool_response", M, "BidiGenerateContentToolResponse", oneof="message_type"),
            ),
        ),
        # --- setup (section 2.2) -------------------------------------------------------------
        Message(
            "BidiGenerateContentSetup",
            (
                _f("model", S),
                _f("generation_config", M, "GenerationConfig"),
                _f("system_instruction", M, "Content"),
                _f("tools", M, "Tool", repeated=True),
                _f("realtime_input_config", M, "RealtimeInputConfig"),
                _f("session_resumption", M, "SessionResumptionConfig"),
                _f("context_window_compression", M, "ContextWindowCompressionConfig"),
                _f("input_audio_transcription", M, "AudioTranscriptionConfig"),
                _f("output_audio_transcription", M, "AudioTranscriptionConfig"),
                _f("proactivity", M, "ProactivityConfig", gate=Gate.PROACTIVITY),
                _f("history_config", M, "HistoryConfig"),
                _f("safety_settings", M, "SafetySetting", repeated=True),
            ),
        ),
        Message(
            "GenerationConfig",
            (
                _f("candidate_count", I32),
                _f("max_output_tokens", I32),
                _f("temperature", F),
                _f("top_p", F),
                _f("top_k", I32),
                _f("seed", I32),
                _f("presence_penalty", F),
                _f("frequency_penalty", F),
                _f("response_modalities", E, "GenerationConfig.Modality", repeated=True),
                _f("speech_config", M, "SpeechConfig"),
                _f("thinking_config", M, "ThinkingConfig"),
                _f("media_resolution", E, "GenerationConfig.MediaResolution"),
                _f("enable_affective_dialog", B, gate=Gate.AFFECTIVE_DIALOG),
            ),
        ),
        Message("SpeechConfig", (_f("voice_config", M, "VoiceConfig"), _f("language_code", S))),
        Message(
            "VoiceConfig",
            (_f("prebuilt_voice_config", M, "PrebuiltVoiceConfig", oneof="voice_config"),),
        ),
        Message("PrebuiltVoiceConfig", (_f("voice_name", S),)),
        Message(
            "ThinkingConfig",
            (
                _f("include_thoughts", B),
                _f("thinking_budget", I32),
                _f("thinking_level", E, "ThinkingConfig.ThinkingLevel"),
            ),
        ),
        Message("Content", (_f("parts", M, "Part", repeated=True), _f("role", S))),
        Message(
            "Part",
            (
                _f("text", S, oneof=_PART_ONEOF),
                _f("inline_data", M, "Blob", oneof=_PART_ONEOF),
                _f("function_call", M, "FunctionCall", oneof=_PART_ONEOF),
                _f("function_response", M, "FunctionResponse", oneof=_PART_ONEOF),
                _f("file_data", M, "FileData", oneof=_PART_ONEOF),
                _f("executable_code", M, "ExecutableCode", oneof=_PART_ONEOF),
                _f("code_execution_result", M, "CodeExecutionResult", oneof=_PART_ONEOF),
                _f("thought", B),
                _f("thought_signature", BY),
            ),
        ),
        Message("Blob", (_f("mime_type", S), _f("data", BY))),
        Message("FileData", (_f("mime_type", S), _f("file_uri", S))),
        Message("FunctionCall", (_f("id", S), _f("name", S), _f("args", Kind.STRUCT))),
        Message(
            "FunctionResponse",
            (
                _f("id", S),
                _f("name", S),
                _f("response", Kind.STRUCT),
                _f("will_continue", B),
                _f("scheduling", E, "FunctionResponse.Scheduling"),
            ),
        ),
        Message("ExecutableCode", (_f("language", E, "ExecutableCode.Language"), _f("code", S))),
        Message(
            "CodeExecutionResult",
            (_f("outcome", E, "CodeExecutionResult.Outcome"), _f("output", S)),
        ),
        Message(
            "Tool",
            (
                _f("function_declarations", M, "FunctionDeclaration", repeated=True),
                _f("code_execution", M, "CodeExecution"),
                _f("google_search", M, "Tool.GoogleSearch"),
            ),
        ),
        Message("Tool.GoogleSearch", (_f("time_range_filter", M, "Interval"),)),
        Message("Interval", (_f("start_time", Kind.TIMESTAMP), _f("end_time", Kind.TIMESTAMP))),
        Message("CodeExecution"),
        Message(
            "FunctionDeclaration",
            (
                _f("name", S),
                _f("description", S),
                _f("parameters", M, "Schema"),
                _f("parameters_json_schema", Kind.VALUE),
                _f("response", M, "Schema"),
                _f("response_json_schema", Kind.VALUE),
                _f("behavior", E, "FunctionDeclaration.Behavior"),
            ),
        ),
        Message(
            "Schema",
            (
                _f("type", E, "Type"),
                _f("format", S),
                _f("title", S),
                _f("description", S),
                _f("nullable", B),
                _f("enum", S, repeated=True),
                _f("items", M, "Schema"),
                _f("max_items", I64),
                _f("min_items", I64),
                _f("properties", M, "Schema", is_map=True),
                _f("required", S, repeated=True),
                _f("min_properties", I64),
                _f("max_properties", I64),
                _f("min_length", I64),
                _f("max_length", I64),
                _f("pattern", S),
                _f("example", Kind.VALUE),
                _f("any_of", M, "Schema", repeated=True),
                _f("property_ordering", S, repeated=True),
                _f("default", Kind.VALUE),
                _f("minimum", D),
                _f("maximum", D),
            ),
        ),
        Message(
            "RealtimeInputConfig",
            (
                _f(
                    "automatic_activity_detection",
                    M,
                    "RealtimeInputConfig.AutomaticActivityDetection",
                ),
                _f("activity_handling", E, "RealtimeInputConfig.ActivityHandling"),
                _f("turn_coverage", E, "RealtimeInputConfig.TurnCoverage"),
            ),
        ),
        Message(
            "RealtimeInputConfig.AutomaticActivityDetection",
            (
                _f("disabled", B),
                _f(
                    "start_of_speech_sensitivity",
                    E,
                    "RealtimeInputConfig.AutomaticActivityDetection.StartSensitivity",
                ),
                _f("prefix_padding_ms", I32),
                _f(
                    "end_of_speech_sensitivity",
                    E,
                    "RealtimeInputConfig.AutomaticActivityDetection.EndSensitivity",
                ),
                _f("silence_duration_ms", I32),
            ),
        ),
        Message("SessionResumptionConfig", (_f("handle", S),)),
        Message(
            "ContextWindowCompressionConfig",
            (
                _f(
                    "sliding_window",
                    M,
                    "ContextWindowCompressionConfig.SlidingWindow",
                    oneof="compression_mechanism",
                ),
                _f("trigger_tokens", I64),
            ),
        ),
        Message("ContextWindowCompressionConfig.SlidingWindow", (_f("target_tokens", I64),)),
        Message("AudioTranscriptionConfig", (_f("language_codes", S, repeated=True),)),
        Message("ProactivityConfig", (_f("proactive_audio", B),)),
        Message("HistoryConfig", (_f("initial_history_in_client_content", B),)),
        Message(
            "SafetySetting",
            (
                _f("category", E, "HarmCategory"),
                _f("threshold", E, "SafetySetting.HarmBlockThreshold"),
            ),
        ),
        # --- clientContent (section 3.3) -------------------------------------------------------
        Message(
            "BidiGenerateContentClientContent",
            (_f("turns", M, "Content", repeated=True), _f("turn_complete", B)),
        ),
        # --- realtimeInput (section 3.2) -------------------------------------------------------
        Message(
            "BidiGenerateContentRealtimeInput",
            (
                _f("media_chunks", M, "Blob", repeated=True),
                _f("audio", M, "Blob"),
                _f("audio_stream_end", B),
                _f("video", M, "Blob"),
                _f("text", S),
                _f("activity_start", M, "BidiGenerateContentRealtimeInput.ActivityStart"),
                _f("activity_end", M, "BidiGenerateContentRealtimeInput.ActivityEnd"),
            ),
        ),
        Message("BidiGenerateContentRealtimeInput.ActivityStart"),
        Message("BidiGenerateContentRealtimeInput.ActivityEnd"),
        # --- toolResponse (section 3.4) --------------------------------------------------------
        Message(
            "BidiGenerateContentToolResponse",
            (_f("function_responses", M, "FunctionResponse", repeated=True),),
        ),
    )
}

ROOT = "BidiGenerateContentClientMessage"


def _check_tables() -> None:
    for message in MESSAGES.values():
        for item in message.fields:
            if item.kind is Kind.MESSAGE and item.type_name not in MESSAGES:
                raise RuntimeError(f"{message.name}.{item.name}: no message {item.type_name}")
            if item.kind is Kind.ENUM and item.type_name not in ENUMS:
                raise RuntimeError(f"{message.name}.{item.name}: no enum {item.type_name}")


_check_tables()
