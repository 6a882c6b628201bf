"""What each config key puts in the setup frame (app/session_config.py, issue 8 item 6). The
expected wire fields are written from docs/live-protocol.md sections 2.2 and 9, not read from
the code under test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgevoice.app.session_config import live_plan
from edgevoice.config import parse_config
from edgevoice.credentials import CredentialKind
from edgevoice.live.frames import encode_client_frame

G25 = "gemini-2.5-flash-native-audio-preview-12-2025"


def setup_json(*overrides: str, index: int = 0) -> dict[str, Any]:
    plan = live_plan(parse_config(None, "test", overrides))
    body: dict[str, Any] = json.loads(encode_client_frame(plan.setup(index)))["setup"]
    return body


def test_the_default_is_3_8_with_no_thinking_config() -> None:
    body = setup_json()
    assert body["model"] == "models/gemini-3.8-live"
    assert "thinkingConfig" not in body["generationConfig"]  # section 9: omit it on 3.8
    assert "proactivity" not in body  # always on: nothing to send
    assert "enableAffectiveDialog" not in body["generationConfig"]


def test_2_5_gets_thinking_off_by_default() -> None:
    # Section 2.2: 2.5 takes thinkingBudget; 0 = off, the latency choice a device wants.
    body = setup_json(f"live.model={G25}")
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    body = setup_json(f"live.model={G25}", "live.thinking_budget=512")
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 512}


def test_levels_go_upper_case() -> None:
    body = setup_json("live.model=gemini-3.1-flash-live-preview", "live.thinking_level=minimal")
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "MINIMAL"}


def test_v1alpha_options_on_2_5() -> None:
    # Sections 1.1 and 2.2: proactivity and enableAffectiveDialog, v1alpha, 2.5 native audio.
    body = setup_json(
        f"live.model={G25}",
        "live.api_version=v1alpha",
        "live.proactive_audio=on",
        "live.affective_dialog=true",
    )
    assert body["proactivity"] == {"proactiveAudio": True}
    assert body["generationConfig"]["enableAffectiveDialog"] is True


def test_realtime_input_options() -> None:
    body = setup_json()
    assert "activityHandling" not in body["realtimeInputConfig"]  # the service default
    assert "turnCoverage" not in body["realtimeInputConfig"]  # the family default
    body = setup_json("live.activity_handling=no_interruption", "live.turn_coverage=all_input")
    assert body["realtimeInputConfig"]["activityHandling"] == "NO_INTERRUPTION"
    assert body["realtimeInputConfig"]["turnCoverage"] == "TURN_INCLUDES_ALL_INPUT"
    assert body["realtimeInputConfig"]["automaticActivityDetection"] == {"disabled": True}


def test_transcription_languages() -> None:
    body = setup_json('live.transcription_languages=["de-DE", "en"]')
    assert body["inputAudioTranscription"] == {"languageCodes": ["de-DE", "en"]}
    assert setup_json()["inputAudioTranscription"] == {}


def test_every_fallback_gets_its_own_setup_in_order() -> None:
    fallbacks = f'live.fallback_models=["{G25}", "gemini-3.1-flash-live-preview"]'
    plan = live_plan(parse_config(None, "test", [fallbacks]))
    assert plan.models == ("gemini-3.8-live", G25, "gemini-3.1-flash-live-preview")
    bodies = [json.loads(encode_client_frame(s))["setup"] for s in plan.setups]
    assert "thinkingConfig" not in bodies[0]["generationConfig"]
    assert bodies[1]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    assert "thinkingConfig" not in bodies[2]["generationConfig"]  # 3.1: level optional, unset


def test_a_resumption_handle_goes_to_the_model_that_issued_it() -> None:
    plan = live_plan(parse_config(None, "test", ()))
    assert plan.setup(0, "handle-1").resumption_handle == "handle-1"
    no_resumption = live_plan(parse_config(None, "test", ["live.resumption=false"]))
    assert no_resumption.setup(0, "handle-1").resumption_handle is None


def test_tokens_use_the_constrained_v1alpha_endpoint() -> None:
    plan = live_plan(parse_config(None, "test", ['auth.token_command="/bin/true"']))
    assert plan.setup().constrained_endpoint and plan.setup().api_version == "v1alpha"
    assert ".v1alpha.GenerativeService." in plan.endpoint.url(CredentialKind.TOKEN)
    assert "BidiGenerateContentConstrained" in plan.endpoint.url(CredentialKind.TOKEN)


@pytest.mark.parametrize(
    ("override", "field", "value"),
    [
        ("live.connect_timeout=7", "connect_timeout", 7.0),
        ("live.keepalive_interval=0", "keepalive_interval", None),
        ("live.max_message_size=1048576", "max_message_size", 1 << 20),
        ("live.websocket_deflate=false", "deflate", False),
    ],
)
def test_the_endpoint_carries_the_connection_settings(
    override: str, field: str, value: Any
) -> None:
    plan = live_plan(parse_config(None, "test", [override]))
    assert getattr(plan.endpoint, field) == value
