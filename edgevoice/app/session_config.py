"""From the config to what a Live connection needs: the `Setup` frame and an `Endpoint`."""

from __future__ import annotations

from edgevoice.adapters.ws import Endpoint
from edgevoice.config import Config
from edgevoice.live.frames import ActivityDetection, Setup, SlidingWindowCompression
from edgevoice.live.tools import declarations_for


def manual_activity(config: Config) -> bool:
    """Whether turns are bracketed by activityStart/activityEnd (server VAD disabled).

    The button always brackets its turns (a release ends the turn at once). The voice trigger
    does too, unless the server's VAD is asked to find the end of speech (DESIGN.md section 4).
    """
    return not (config.trigger.mode == "voice" and config.vad.end_of_speech == "server")


def session_setup(config: Config, resumption_handle: str | None = None) -> Setup:
    """The setup frame for `config`. Raises SetupError (a LocalProtocolError naming the field)
    when the configured model cannot take a setting."""
    live = config.live
    manual = manual_activity(config)
    return Setup(
        model=live.model,
        voice=live.voice or None,
        system_instruction=live.system_instruction or None,
        input_transcription=live.input_transcription,
        output_transcription=live.output_transcription,
        session_resumption=live.resumption,
        resumption_handle=resumption_handle if live.resumption else None,
        compression=(
            SlidingWindowCompression(live.compression_trigger_tokens) if live.compression else None
        ),
        activity_detection=ActivityDetection(
            disabled=manual, silence_duration_ms=None if manual else config.vad.end_ms
        ),
        function_declarations=declarations_for(live.tools),
        api_version=live.api_version,
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
