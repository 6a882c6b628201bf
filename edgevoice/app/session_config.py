"""From the config to what a Live connection needs: `SessionOptions` and an `Endpoint`."""

from __future__ import annotations

from edgevoice.adapters.ws import Endpoint
from edgevoice.config import Config
from edgevoice.live.session import SessionOptions
from edgevoice.live.tools import declarations_for


def manual_activity(config: Config) -> bool:
    """Whether turns are bracketed by activityStart/activityEnd (server VAD disabled).

    The button always brackets its turns (a release ends the turn at once). The voice trigger
    does too, unless the server's VAD is asked to find the end of speech (DESIGN.md section 4).
    """
    return not (config.trigger.mode == "voice" and config.vad.end_of_speech == "server")


def session_options(config: Config, resumption_handle: str | None = None) -> SessionOptions:
    live = config.live
    return SessionOptions(
        model=live.model,
        voice=live.voice,
        system_instruction=live.system_instruction or None,
        input_transcription=live.input_transcription,
        output_transcription=live.output_transcription,
        resumption=live.resumption,
        resumption_handle=resumption_handle if live.resumption else None,
        compression=live.compression,
        compression_trigger_tokens=live.compression_trigger_tokens,
        manual_activity=manual_activity(config),
        silence_duration_ms=None if manual_activity(config) else config.vad.end_ms,
        tools=declarations_for(live.tools),
    )


def endpoint(config: Config) -> Endpoint:
    live = config.live
    return Endpoint(
        base_url=live.endpoint,
        api_version=live.api_version,
        connect_timeout=live.connect_timeout,
        setup_timeout=live.setup_timeout,
        keepalive_interval=live.keepalive_interval or None,
        keepalive_timeout=live.keepalive_timeout,
        max_message_size=live.max_message_size,
        deflate=live.websocket_deflate,
    )
