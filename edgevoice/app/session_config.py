"""From the config to what a Live connection needs: the setup frame of each model and the
endpoint.

`live_plan(config)` is the one path from a Config to the Live session: `check-config`, `run` and
`probe` all call it, so every config `check-config` accepts also starts. It builds the `Setup`
for live.model and for every fallback model (each checked by its family's rules,
`edgevoice.live.setup_rules`), and the endpoint with the URL of each credential kind, and reports
anything that cannot be built as a config problem with its key (exit 78), never a traceback at
the first press. `edgevoice.config_rules` finds most of these first, with the config's words;
this is where whatever it misses is still caught as a config problem.

How config values become setup fields (the config says what a person wants; the setup says
what goes on the wire; "unset" sends nothing and leaves the model its default):

- live.thinking_budget -> thinking_budget: -1 is 0 on a family that takes a budget (thinking
  off, the low-latency choice), unset elsewhere.
- live.thinking_level -> thinking_level: "" is unset.
- live.proactive_audio -> proactive_audio: auto unset, on True, off False.
- live.affective_dialog -> affective_dialog: false is unset (nothing asked), true is True.
- live.activity_handling -> activity_handling: interrupts is unset (the service's default).
- live.turn_coverage -> turn_coverage: auto is unset (the family's default).
- live.transcription_languages -> transcription_language_codes, as they are.
- live.api_version and auth.token_command -> api_version and constrained_endpoint: ephemeral
  tokens always go to the v1alpha Constrained endpoint.
- live.tools and [[tools.command]] -> function_declarations: the built-ins, then the operator
  commands, each with the behaviour the model's family runs it with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edgevoice.config import CommandTool, Config
from edgevoice.config_rules import effective_api_version, unknown_models
from edgevoice.credentials import CredentialKind
from edgevoice.errors import ConfigError, ConfigProblem, EdgevoiceError
from edgevoice.live.endpoint import Endpoint
from edgevoice.live.frames import (
    ActivityDetection,
    ActivityHandling,
    FunctionDeclaration,
    Scheduling,
    Setup,
    SlidingWindowCompression,
    TurnCoverage,
)
from edgevoice.live.json_schema import live_parameters
from edgevoice.live.models import Thinking, bare_model_id, rules_for
from edgevoice.live.setup_rules import SetupError
from edgevoice.live.tools import Timing, behavior_for, declarations_for
from edgevoice.redact import printable

ACTIVITY_HANDLING = {
    "interrupts": None,
    "no_interruption": ActivityHandling.NO_INTERRUPTION,
}
TURN_COVERAGE = {
    "auto": None,
    "only_activity": TurnCoverage.TURN_INCLUDES_ONLY_ACTIVITY,
    "all_input": TurnCoverage.TURN_INCLUDES_ALL_INPUT,
    "audio_activity_and_all_video": TurnCoverage.TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO,
}
PROACTIVE_AUDIO = {"auto": None, "on": True, "off": False}
SCHEDULING = {
    "when_idle": Scheduling.WHEN_IDLE,
    "interrupt": Scheduling.INTERRUPT,
    "silent": Scheduling.SILENT,
}

# Setup field -> the config key a person changes to fix it.
FIELD_KEYS = {
    "model": "live.model",
    "voice": "live.voice",
    "system_instruction": "live.system_instruction",
    "transcription_language_codes": "live.transcription_languages",
    "thinking_budget": "live.thinking_budget",
    "thinking_level": "live.thinking_level",
    "proactive_audio": "live.proactive_audio",
    "affective_dialog": "live.affective_dialog",
    "activity_handling": "live.activity_handling",
    "turn_coverage": "live.turn_coverage",
    "function_declarations": "live.tools",  # or tools.command
    "api_version": "live.api_version",
    "compression": "live.compression_trigger_tokens",
    "activity_detection": "vad.end_ms",
}


def manual_activity(config: Config) -> bool:
    """Whether turns are bracketed by activityStart/activityEnd (server VAD disabled).

    The button always brackets its turns (a release ends the turn at once). The voice trigger
    does too, unless the server's VAD is asked to find the end of speech (DESIGN.md section 4).
    """
    return not (config.trigger.mode == "voice" and config.vad.end_of_speech == "server")


@dataclass(frozen=True)
class LivePlan:
    """The checked Live settings of a config: the endpoint, and the setup of each model in the
    order the supervisor tries them (live.model first, then live.fallback_models).

    `warnings`: config warnings to show once (a model edgevoice does not know).
    """

    endpoint: Endpoint
    setups: tuple[Setup, ...]
    warnings: tuple[ConfigProblem, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(setup.model for setup in self.setups)

    def setup(self, model_index: int = 0, resumption_handle: str | None = None) -> Setup:
        """The setup for the model at `model_index` (0: live.model), resuming
        `resumption_handle` when given and resumption is on. A handle belongs to the model that
        issued it: pass one only with that model's index."""
        setup = self.setups[model_index]
        if resumption_handle is None or not setup.session_resumption:
            return setup
        return dataclasses.replace(setup, resumption_handle=resumption_handle)


def live_plan(config: Config) -> LivePlan:
    """Build and check everything a Live connection needs from `config`.

    Raises ConfigError naming every problem with its config key and where it was set.
    """
    problems: list[ConfigProblem] = []
    built_endpoint = _endpoint(config, problems)
    setups: list[Setup] = []
    models = [("live.model", config.live.model)]
    models += [("live.fallback_models", m) for m in config.live.fallback_models]
    for model_key, model in models:
        try:
            setups.append(build_setup(config, model))
        except SetupError as exc:
            key = FIELD_KEYS.get(exc.field, model_key)
            problems.append(
                ConfigProblem(key, _message(exc, model), config.source_of(key, model_key))
            )
        except (EdgevoiceError, ValueError) as exc:
            problems.append(
                ConfigProblem(model_key, _message(exc, model), config.source_of(model_key))
            )
    if problems or built_endpoint is None:
        raise ConfigError(problems)
    return LivePlan(built_endpoint, tuple(setups), tuple(unknown_models(config)))


def _message(exc: Exception, model: str) -> str:
    shown = printable(bare_model_id(model), 80)
    return f"no setup can be made for {shown}: {printable(str(exc), 300)}"


def build_setup(config: Config, model: str) -> Setup:
    """The setup frame `config` asks for on `model`. Raises SetupError (naming the Setup field)
    or another LocalProtocolError when the model cannot take it."""
    live = config.live
    manual = manual_activity(config)
    rules = rules_for(model)
    budget: int | None = live.thinking_budget
    if budget == -1:  # the device default: thinking off where a budget exists, else unset
        budget = 0 if rules is not None and rules.thinking is Thinking.BUDGET else None
    return Setup(
        model=model,
        voice=live.voice or None,
        system_instruction=live.system_instruction or None,
        input_transcription=live.input_transcription,
        output_transcription=live.output_transcription,
        transcription_language_codes=live.transcription_languages,
        session_resumption=live.resumption,
        compression=(
            SlidingWindowCompression(live.compression_trigger_tokens) if live.compression else None
        ),
        activity_detection=ActivityDetection(
            disabled=manual, silence_duration_ms=None if manual else config.vad.end_ms
        ),
        activity_handling=ACTIVITY_HANDLING[live.activity_handling],
        turn_coverage=TURN_COVERAGE[live.turn_coverage],
        thinking_budget=budget,
        thinking_level=live.thinking_level or None,
        proactive_audio=PROACTIVE_AUDIO[live.proactive_audio],
        affective_dialog=True if live.affective_dialog else None,
        function_declarations=(
            *declarations_for(live.tools, model),
            *(operator_declaration(tool, model) for tool in config.tools.command),
        ),
        api_version=effective_api_version(config),
        constrained_endpoint=bool(config.auth.token_command),
    )


def operator_timing(tool: CommandTool) -> Timing:
    """How an operator tool wants its result used: `behavior` blocking means the answer waits
    for it; `scheduling` is how a result that runs non-blocking is used."""
    return Timing(waits=tool.behavior == "blocking", scheduling=SCHEDULING[tool.scheduling])


def operator_declaration(tool: CommandTool, model: str) -> FunctionDeclaration:
    """The declaration of an operator tool for `model`: its behaviour is the configured one
    where the model's family runs it, else the other one (as for the built-ins)."""
    return FunctionDeclaration(
        name=tool.name,
        description=tool.description,
        parameters=live_parameters(tool.parameters) if tool.parameters is not None else None,
        behavior=behavior_for(operator_timing(tool), model),
    )


def _endpoint(config: Config, problems: list[ConfigProblem]) -> Endpoint | None:
    live = config.live
    try:
        built = Endpoint(
            base_url=live.endpoint,
            api_version=live.api_version,
            connect_timeout=live.connect_timeout,
            setup_timeout=live.setup_timeout,
            keepalive_interval=live.keepalive_interval or None,
            keepalive_timeout=live.keepalive_timeout,
            max_message_size=live.max_message_size,
            deflate=live.websocket_deflate,
        )
        for kind in CredentialKind:
            built.url(kind)  # the URL each credential kind connects to must be buildable
    except (EdgevoiceError, ValueError) as exc:
        problems.append(
            ConfigProblem(
                "live.endpoint",
                printable(str(exc), 200),
                config.source_of("live.endpoint", "live.api_version"),
            )
        )
        return None
    return built
