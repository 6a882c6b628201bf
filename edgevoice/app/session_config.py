"""From the config to what a Live connection needs: the setup of each model and the endpoint.

`live_plan(config)` is the one path from a Config to the Live session: `check-config`, `run` and
`probe` all call it, so every config `check-config` accepts also starts. It builds the setup for
live.model and for every fallback model, and the endpoint with the URL of each credential kind,
and reports anything that cannot be built as a config problem with its key (exit 78), never a
traceback at the first press. Most problems are found earlier by `edgevoice.config_rules` with a
better message; this is where whatever they miss is still caught as a config problem.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edgevoice.adapters.ws import Endpoint
from edgevoice.config import Config
from edgevoice.config_rules import unknown_models
from edgevoice.credentials import CredentialKind
from edgevoice.errors import ConfigError, ConfigProblem, EdgevoiceError
from edgevoice.live.models import bare_model_id
from edgevoice.live.session import SessionOptions
from edgevoice.live.tools import declarations_for
from edgevoice.redact import printable


def manual_activity(config: Config) -> bool:
    """Whether turns are bracketed by activityStart/activityEnd (server VAD disabled).

    The button always brackets its turns (a release ends the turn at once). The voice trigger
    does too, unless the server's VAD is asked to find the end of speech (DESIGN.md section 4).
    """
    return not (config.trigger.mode == "voice" and config.vad.end_of_speech == "server")


@dataclass(frozen=True)
class LivePlan:
    """The checked Live settings of a config: the endpoint, and the session options of each
    model in the order the supervisor tries them (live.model first, then the fallbacks).

    `warnings`: config warnings to show once (a model edgevoice does not know).
    """

    endpoint: Endpoint
    sessions: tuple[SessionOptions, ...]
    warnings: tuple[ConfigProblem, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(options.model for options in self.sessions)

    def session_options(
        self, model_index: int = 0, resumption_handle: str | None = None
    ) -> SessionOptions:
        """The options for the model at `model_index` (0: live.model), resuming `handle` if
        given and resumption is on. A handle is tied to its model: pass one only for the model
        that issued it."""
        options = self.sessions[model_index]
        if resumption_handle is None or not options.resumption:
            return options
        return dataclasses.replace(options, resumption_handle=resumption_handle)


def live_plan(config: Config) -> LivePlan:
    """Build and check everything a Live connection needs from `config`.

    Raises ConfigError naming every problem with its key (the setup of a model, the endpoint).
    """
    problems: list[ConfigProblem] = []
    built_endpoint = _endpoint(config, problems)
    sessions: list[SessionOptions] = []
    models = [("live.model", config.live.model)]
    models += [("live.fallback_models", m) for m in config.live.fallback_models]
    for key, model in models:
        try:
            sessions.append(_session_options(config, model))
        except (EdgevoiceError, ValueError) as exc:
            problems.append(
                ConfigProblem(
                    key,
                    f"no setup can be made for {printable(bare_model_id(model), 80)}: "
                    f"{printable(str(exc), 200)}",
                    config.source_of(key),
                )
            )
    if problems or built_endpoint is None:
        raise ConfigError(problems)
    return LivePlan(built_endpoint, tuple(sessions), tuple(unknown_models(config)))


def _session_options(config: Config, model: str) -> SessionOptions:
    live = config.live
    manual = manual_activity(config)
    return SessionOptions(
        model=model,
        voice=live.voice,
        system_instruction=live.system_instruction or None,
        input_transcription=live.input_transcription,
        output_transcription=live.output_transcription,
        resumption=live.resumption,
        compression=live.compression,
        compression_trigger_tokens=live.compression_trigger_tokens,
        manual_activity=manual,
        silence_duration_ms=None if manual else config.vad.end_ms,
        tools=declarations_for(live.tools),
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
