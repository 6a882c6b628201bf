"""What a `Setup` means for its model family: the checks, and the body of the setup frame.

`edgevoice.live.frames.Setup` calls `check_family` when it is built (when its model's family is
known) and `encode_client_frame` calls `setup_body`. The rules come from
`edgevoice.live.models` (protocol doc section 9) and the API version the setup is sent to
(section 2.2: `proactivity` and `enableAffectiveDialog` exist on v1alpha only). Core: no I/O.

Options a family cannot take are refused with `SetupError`, naming the field and the model.
Options that ask for what the model does anyway (proactive audio on gemini-3.8; False for a
feature the model does not have) are accepted and left off the wire, where the field would be
refused. Behaviours equal to the family default are not repeated on the wire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from edgevoice.errors import LocalProtocolError
from edgevoice.live.json_view import JsonObject, JsonValue
from edgevoice.live.models import (
    MODEL_PREFIX,
    FamilyRules,
    ProactiveAudio,
    Thinking,
    rules_for,
)

if TYPE_CHECKING:  # frames imports this module; these names are only read as attributes here
    from edgevoice.live.frames import FunctionDeclaration, Setup


class SetupError(LocalProtocolError):
    """A `Setup` the model (or the API version) cannot take. `field` is the Setup field at
    fault ("thinking_budget", "function_declarations", ...), for mapping it to a config key."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def check_family(setup: Setup, rules: FamilyRules) -> None:
    """Raise SetupError for the first option of `setup` that the family of `rules` refuses."""
    _FamilyCheck(setup, rules).run()


class _FamilyCheck:
    """The rules of one model family applied to one Setup (protocol doc section 9)."""

    def __init__(self, setup: Setup, rules: FamilyRules) -> None:
        self.setup = setup
        self.rules = rules
        self.v1alpha = setup.api_version == "v1alpha"

    def refuse(self, field_name: str, problem: str, fix: str) -> SetupError:
        """`<field>: model <id> (<family>) <problem>; <fix>`."""
        model = self.setup.bare_model
        family = self.rules.family.value
        return SetupError(field_name, f"{field_name}: model {model} ({family}) {problem}; {fix}")

    def run(self) -> None:
        self.thinking()
        self.proactive_audio()
        self.affective_dialog()
        self.behaviors()

    def thinking(self) -> None:
        setup, kind = self.setup, self.rules.thinking
        levels = ", ".join(self.rules.thinking_levels)
        if setup.thinking_budget is not None and kind is not Thinking.BUDGET:
            raise self.refuse(
                "thinking_budget",
                "takes no thinking budget",
                "leave it unset"
                + (f" and set thinking_level ({levels})" if levels else " (no thinking setting)"),
            )
        level = setup.thinking_level
        if level is not None and kind is Thinking.BUDGET:
            raise self.refuse(
                "thinking_level",
                "takes a thinking budget, not a level",
                "use thinking_budget instead (0 = off, the low-latency choice)",
            )
        if level is not None and kind is Thinking.NONE:
            raise self.refuse(
                "thinking_level", "takes no thinking setting at all", "leave it unset"
            )
        if kind is Thinking.LEVEL_REQUIRED and level not in self.rules.thinking_levels:
            got = "none is set" if level is None else f"{level!r} is not one of them"
            raise self.refuse(
                "thinking_level",
                f"refuses to start without a thinking level ({levels}) and {got}",
                "set one of those levels",
            )

    def proactive_audio(self) -> None:
        wanted, kind = self.setup.proactive_audio, self.rules.proactive_audio
        if wanted is None:
            return
        if kind is ProactiveAudio.ALWAYS_ON and not wanted:
            raise self.refuse(
                "proactive_audio", "always has proactive audio on (false is refused)", "unset it"
            )
        if kind is ProactiveAudio.UNSUPPORTED and wanted:
            raise self.refuse("proactive_audio", "has no proactive audio", "unset it")
        if kind is ProactiveAudio.V1ALPHA_OPTION and wanted:
            if not self.v1alpha:
                version = self.setup.api_version
                raise self.refuse(
                    "proactive_audio",
                    f"takes proactive audio on API version v1alpha only, not {version}",
                    "use v1alpha or unset it",
                )
            if self.setup.constrained_endpoint:
                raise self.refuse(
                    "proactive_audio",
                    "takes no proactive audio on the ephemeral-token endpoint",
                    "unset it or use an API key",
                )

    def affective_dialog(self) -> None:
        if not self.setup.affective_dialog:
            return  # None or False: nothing to ask of the model
        if not self.rules.affective_dialog:
            raise self.refuse("affective_dialog", "has no affective dialog", "unset it")
        if not self.v1alpha:
            raise self.refuse(
                "affective_dialog",
                f"takes affective dialog on API version v1alpha only, not {self.setup.api_version}",
                "use v1alpha or unset it",
            )

    def behaviors(self) -> None:
        for declaration in self.setup.function_declarations:
            behavior = declaration.behavior
            if behavior is not None and behavior not in self.rules.behaviors:
                allowed = " or ".join(sorted(b.value for b in self.rules.behaviors))
                raise self.refuse(
                    "function_declarations",
                    f"runs {allowed} function calls only, and {declaration.name} is declared "
                    f"{behavior.value}",
                    "offer this tool with another model",
                )


def setup_body(setup: Setup) -> JsonObject:
    """The JSON body of the `setup` frame (inside {"setup": ...}), as the family takes it."""
    rules = rules_for(setup.model)
    generation: JsonObject = {"responseModalities": ["AUDIO"]}
    if setup.voice:
        generation["speechConfig"] = {
            "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": setup.voice}}
        }
    if setup.thinking_budget is not None:
        generation["thinkingConfig"] = {"thinkingBudget": setup.thinking_budget}
    elif setup.thinking_level is not None:
        generation["thinkingConfig"] = {"thinkingLevel": setup.thinking_level.upper()}
    if setup.affective_dialog is not None and _v1alpha_option(setup, rules, "affective"):
        generation["enableAffectiveDialog"] = setup.affective_dialog
    body: JsonObject = {"model": MODEL_PREFIX + setup.bare_model, "generationConfig": generation}
    if setup.system_instruction:
        body["systemInstruction"] = {"parts": [{"text": setup.system_instruction}]}
    if setup.function_declarations:
        declarations: list[JsonValue] = [
            _declaration(d, rules) for d in setup.function_declarations
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    realtime = _realtime_input_config(setup)
    if realtime:
        # Not in the SDK's LiveClientSetup type, but sent by the SDK and accepted by the server
        # (section 8); absent means server VAD with its defaults.
        body["realtimeInputConfig"] = realtime
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
        transcription: JsonObject = {}
        if setup.transcription_language_codes:
            transcription["languageCodes"] = list(setup.transcription_language_codes)
        body["inputAudioTranscription"] = transcription
    if setup.output_transcription:
        body["outputAudioTranscription"] = {}
    if setup.proactive_audio is not None and _v1alpha_option(setup, rules, "proactive"):
        body["proactivity"] = {"proactiveAudio": setup.proactive_audio}
    return body


def _v1alpha_option(
    setup: Setup, rules: FamilyRules | None, which: Literal["affective", "proactive"]
) -> bool:
    """Whether a set `affective_dialog` / `proactive_audio` goes on the wire.

    An unknown model gets what was configured. Otherwise only where the field exists: gemini-2.5
    on v1alpha (proactivity: not on the token endpoint). Everywhere else the checks let only the
    value the model has anyway through (False, or True for 3.8's always-on proactive audio),
    and sending the field would be refused (section 2.2: 1007 Unknown name; section 9: 3.8
    refuses enableAffectiveDialog and proactiveAudio false).
    """
    if rules is None:
        return True
    if setup.api_version != "v1alpha":
        return False
    if which == "affective":
        return rules.affective_dialog
    return rules.proactive_audio is ProactiveAudio.V1ALPHA_OPTION and not setup.constrained_endpoint


def _declaration(declaration: FunctionDeclaration, rules: FamilyRules | None) -> JsonObject:
    entry: JsonObject = {"name": declaration.name, "description": declaration.description}
    if declaration.parameters is not None:
        entry["parameters"] = dict(declaration.parameters)
    behavior = declaration.behavior
    if behavior is not None and (rules is None or behavior is not rules.default_behavior):
        # The family default is not repeated: gemini-3.1 (legacy preview) runs blocking calls
        # only, and a field it never needed is one more way to be refused.
        entry["behavior"] = behavior.value
    return entry


def _realtime_input_config(setup: Setup) -> JsonObject:
    detection = setup.activity_detection
    auto: JsonObject = {}
    if detection.disabled:
        auto["disabled"] = True
    if detection.start_sensitivity is not None:
        auto["startOfSpeechSensitivity"] = f"START_SENSITIVITY_{detection.start_sensitivity.value}"
    if detection.end_sensitivity is not None:
        auto["endOfSpeechSensitivity"] = f"END_SENSITIVITY_{detection.end_sensitivity.value}"
    if detection.prefix_padding_ms is not None:
        auto["prefixPaddingMs"] = detection.prefix_padding_ms
    if detection.silence_duration_ms is not None:
        auto["silenceDurationMs"] = detection.silence_duration_ms
    config: JsonObject = {}
    if auto:
        config["automaticActivityDetection"] = auto
    if setup.activity_handling is not None:
        config["activityHandling"] = setup.activity_handling.value
    if setup.turn_coverage is not None:
        config["turnCoverage"] = setup.turn_coverage.value
    return config
