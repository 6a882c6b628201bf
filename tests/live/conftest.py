"""Shared helpers for the live tests: the SDK oracle and sessions brought to each state.

The oracle follows docs/live-protocol.md section 8: the pinned google-genai pydantic types forbid
unknown keys at any depth and accept camelCase; this wrapper adds what they do not check (exactly
one known top-level key), splits out setup.realtimeInputConfig (absent from LiveClientSetup) and
validates it with RealtimeInputConfig, and turns the SDK's "unknown enum value" warnings into
failures.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from edgevoice.errors import RemoteProtocolError
from edgevoice.live.frames import ActivityDetection, Sensitivity, Setup
from edgevoice.live.session import LiveSession
from edgevoice.live.states import SessionState

SDK_VERSION = "3.6.1"  # the pinned oracle; field sets differ between SDK versions

TOP_LEVEL = {"setup", "clientContent", "realtimeInput", "toolResponse"}


class Validated:
    """What the oracle made of one client frame."""

    def __init__(self, message: Any, realtime_input_config: Any) -> None:
        self.message = message  # types.LiveClientMessage
        self.realtime_input_config = realtime_input_config  # types.RealtimeInputConfig | None


def check_client_frame(raw: str) -> Validated:
    from google.genai import types

    obj = json.loads(raw)
    assert isinstance(obj, dict), f"frame is not a JSON object: {raw[:80]}"
    assert len(obj) == 1, f"frame must have exactly one top-level key, has {sorted(obj)}"
    (key,) = obj
    # Our frames are camelCase only (the documented form), so snake_case keys fail here.
    assert key in TOP_LEVEL, f"unknown or non-camelCase top-level key {key!r}"
    ric = None
    if key == "setup":
        assert "realtime_input_config" not in obj["setup"]
        ric = obj["setup"].pop("realtimeInputConfig", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unknown enum value is only a UserWarning otherwise
        message = types.LiveClientMessage.model_validate_json(json.dumps(obj))
        config = None if ric is None else types.RealtimeInputConfig.model_validate(ric)
    return Validated(message, config)


@pytest.fixture
def oracle() -> Callable[[str], Validated]:
    import google.genai

    assert google.genai.__version__ == SDK_VERSION, "the oracle is pinned; update the tests too"
    return check_client_frame


# --------------------------------------------------------------------------------------------
# Sessions in a given state

SETUP_COMPLETE = '{"setupComplete":{}}'
GO_AWAY_10S = '{"goAway":{"timeLeft":"10s"}}'


def manual_setup(**overrides: Any) -> Setup:
    """Manual turns (the button path), resumption on, a model id edgevoice does not know."""
    fields: dict[str, Any] = {
        "model": "gemini-test-model",
        "activity_detection": ActivityDetection(disabled=True),
        "session_resumption": True,
    }
    fields.update(overrides)
    return Setup(**fields)


def auto_setup(**overrides: Any) -> Setup:
    """Server VAD (tuned), resumption on, a model id edgevoice does not know."""
    fields: dict[str, Any] = {
        "model": "gemini-test-model",
        "activity_detection": ActivityDetection(end_sensitivity=Sensitivity.LOW),
        "session_resumption": True,
    }
    fields.update(overrides)
    return Setup(**fields)


def session_in(state: SessionState, setup: Setup | None = None) -> LiveSession:
    """A session driven through the public API into `state`, with both outboxes drained."""
    session = LiveSession(setup or manual_setup())
    if state is not SessionState.IDLE:
        if state is SessionState.CLOSED:
            session.closed(1000, "test")
        elif state is SessionState.FAILED:
            session.start()
            with pytest.raises(RemoteProtocolError):
                session.receive("not json", now=0.0)
        else:
            session.start()
            if state is not SessionState.SETUP_SENT:
                session.receive(SETUP_COMPLETE, now=0.0)
                if state is SessionState.GOING_AWAY:
                    session.receive(GO_AWAY_10S, now=0.0)
    session.data_to_send()
    session.events()
    assert session.state is state
    return session


def snapshot(session: LiveSession) -> tuple[object, ...]:
    """Every public fact of a session, to prove a refused call changed nothing."""
    return (
        session.state,
        session.is_open,
        session.user_turn,
        session.model_turn,
        session.device_state,
        dict(session.pending_tool_calls),
        session.input_blocked,
        session.audio_held_back,
        session.interaction_idle,
        session.resumption_handle,
        session.goaway_deadline,
        session.turns_completed,
        session.session_id,
        session.close_error,
        session.failure,
        session.can_rotate,
    )


# Test modules cannot import this conftest under --import-mode=importlib: hand out the helpers
# as fixtures instead.


@pytest.fixture(name="session_in")
def _session_in() -> Callable[..., LiveSession]:
    return session_in


@pytest.fixture(name="snapshot")
def _snapshot() -> Callable[[LiveSession], tuple[object, ...]]:
    return snapshot


@pytest.fixture(name="manual_setup")
def _manual_setup() -> Callable[..., Setup]:
    return manual_setup


@pytest.fixture(name="auto_setup")
def _auto_setup() -> Callable[..., Setup]:
    return auto_setup
