"""Setup and the model families: what each family accepts, refuses (naming the field and the
model) and leaves off the wire. Sources: docs/live-protocol.md sections 2.2, 3.4 and 9."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgevoice.errors import LocalProtocolError
from edgevoice.live.frames import (
    ActivityDetection,
    FunctionDeclaration,
    Setup,
    encode_client_frame,
)
from edgevoice.live.models import Behavior
from edgevoice.live.setup_rules import SetupError
from edgevoice.live.tools import LOCAL_TOOLS, declarations_for

M25 = "gemini-2.5-flash-native-audio-preview-12-2025"
M25_LATEST = "models/gemini-2.5-flash-native-audio-latest"  # prefix and alias alike
M31 = "gemini-3.1-flash-live-preview"
M38 = "gemini-3.8-live"
M38T = "gemini-3.8-live-extended-thinking"
UNKNOWN = "gemini-9.9-live-future"


def job(behavior: Behavior | None) -> tuple[FunctionDeclaration, ...]:
    return (FunctionDeclaration("job", "A job.", None, behavior),)


def body(setup: Setup) -> dict[str, Any]:
    return dict(json.loads(encode_client_frame(setup))["setup"])


# (model, options, the field named in the refusal) -- each row cites its rule.
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    # Thinking (section 9): 2.5 budget only; 3.1 level only; 3.8 none; 3.8T a level required.
    (M25, {"thinking_level": "low"}, "thinking_level"),
    (M25_LATEST, {"thinking_level": "minimal"}, "thinking_level"),
    (M31, {"thinking_budget": 0}, "thinking_budget"),
    (M38, {"thinking_budget": 0}, "thinking_budget"),
    (M38, {"thinking_level": "high"}, "thinking_level"),
    (M38T, {}, "thinking_level"),
    (M38T, {"thinking_level": "minimal"}, "thinking_level"),
    (M38T, {"thinking_level": "low", "thinking_budget": 100}, "thinking_budget"),
    # Proactive audio (sections 2.2, 9): 2.5 v1alpha only, not on the token endpoint; 3.8
    # always on, false refused; 3.1 has none.
    (M25, {"proactive_audio": True}, "proactive_audio"),
    (
        M25,
        {"proactive_audio": True, "api_version": "v1alpha", "constrained_endpoint": True},
        "proactive_audio",
    ),
    (M38, {"proactive_audio": False}, "proactive_audio"),
    (M38T, {"proactive_audio": False, "thinking_level": "low"}, "proactive_audio"),
    (M31, {"proactive_audio": True}, "proactive_audio"),
    # Affective dialog (sections 2.2, 9): 2.5 on v1alpha only; removed on 3.8; none on 3.1.
    (M25, {"affective_dialog": True}, "affective_dialog"),
    (M31, {"affective_dialog": True, "api_version": "v1alpha"}, "affective_dialog"),
    (M38, {"affective_dialog": True, "api_version": "v1alpha"}, "affective_dialog"),
    # Function-call behaviour (sections 3.4, 9): 3.1 runs synchronous calls only; 3.8 extended
    # thinking asynchronous only. (The built-in tools adapt: see ACCEPTED.)
    (M31, {"function_declarations": job(Behavior.NON_BLOCKING)}, "function_declarations"),
    (
        M38T,
        {"function_declarations": job(Behavior.BLOCKING), "thinking_level": "high"},
        "function_declarations",
    ),
]


@pytest.mark.parametrize(
    ("model", "options", "field"),
    REFUSED,
    ids=[f"{r[0]}-{r[2]}-{i}" for i, r in enumerate(REFUSED)],
)
def test_a_setting_the_family_cannot_take_is_refused_naming_field_and_model(
    model: str, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(SetupError) as info:
        Setup(model=model, **options)
    error = info.value
    assert isinstance(error, LocalProtocolError)
    assert error.field == field
    message = str(error)
    assert message.startswith(f"{field}: model {model.removeprefix('models/')} (")
    assert "\n" not in message


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    (M25, {"thinking_budget": 0}),
    (M25, {"thinking_budget": 8192}),
    (M25, {"proactive_audio": True, "affective_dialog": True, "api_version": "v1alpha"}),
    (M25, {"proactive_audio": False, "affective_dialog": False}),  # off anyway: not sent
    (M31, {"thinking_level": "MINIMAL"}),
    (M31, {}),
    (M31, {"proactive_audio": False, "affective_dialog": False}),
    (M31, {"function_declarations": job(Behavior.BLOCKING)}),
    (M38, {}),
    (M38, {"proactive_audio": True}),
    (M38, {"function_declarations": job(Behavior.BLOCKING)}),
    (M38, {"function_declarations": declarations_for(["get_time"], M38)}),
    # Every built-in tool is declared as each family runs it, so every family takes them all.
    (M25, {"function_declarations": declarations_for(LOCAL_TOOLS, M25)}),
    (M31, {"function_declarations": declarations_for(LOCAL_TOOLS, M31)}),
    (M38, {"function_declarations": declarations_for(LOCAL_TOOLS, M38)}),
    (
        M38T,
        {"function_declarations": declarations_for(LOCAL_TOOLS, M38T), "thinking_level": "low"},
    ),
    (UNKNOWN, {"function_declarations": declarations_for(LOCAL_TOOLS, UNKNOWN)}),
    (M38T, {"thinking_level": "medium", "function_declarations": job(Behavior.NON_BLOCKING)}),
    (UNKNOWN, {"thinking_budget": 0, "proactive_audio": False, "affective_dialog": True}),
    (UNKNOWN, {"thinking_level": "high", "function_declarations": job(Behavior.NON_BLOCKING)}),
]


@pytest.mark.parametrize(("model", "options"), ACCEPTED)
def test_what_the_family_takes_is_accepted(model: str, options: dict[str, Any]) -> None:
    Setup(model=model, **options)


def test_thinking_goes_on_the_wire_as_the_family_takes_it() -> None:
    assert body(Setup(model=M25, thinking_budget=0))["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 0
    }
    # Levels are upper case on the wire, whatever case the config used.
    for level in ("low", "Low", "LOW"):
        setup = Setup(model=M31, thinking_level=level)
        assert setup.thinking_level == "low"
        assert body(setup)["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "LOW"}
    assert "thinkingConfig" not in body(Setup(model=M38))["generationConfig"]


def test_proactive_audio_and_affective_dialog_only_where_the_field_exists() -> None:
    alpha = body(
        Setup(model=M25, api_version="v1alpha", proactive_audio=True, affective_dialog=True)
    )
    assert alpha["proactivity"] == {"proactiveAudio": True}
    assert alpha["generationConfig"]["enableAffectiveDialog"] is True
    off_beta = body(Setup(model=M25, proactive_audio=False, affective_dialog=False))
    assert "proactivity" not in off_beta  # v1beta refuses the field (1007 Unknown name)
    assert "enableAffectiveDialog" not in off_beta["generationConfig"]
    on_38 = body(Setup(model=M38, proactive_audio=True, affective_dialog=False))
    assert "proactivity" not in on_38  # always on; false would be an error
    assert "enableAffectiveDialog" not in on_38["generationConfig"]  # must be dropped on 3.8
    unknown = body(Setup(model=UNKNOWN, proactive_audio=False, affective_dialog=True))
    assert unknown["proactivity"] == {"proactiveAudio": False}  # configured: sent as given
    assert unknown["generationConfig"]["enableAffectiveDialog"] is True


def test_behaviour_is_sent_only_when_it_differs_from_the_family_default() -> None:
    def behaviors(model: str, declared: Behavior | None, **extra: Any) -> list[Any]:
        tools = body(Setup(model=model, function_declarations=job(declared), **extra))["tools"]
        return [d.get("behavior") for d in tools[0]["functionDeclarations"]]

    assert behaviors(M25, Behavior.BLOCKING) == [None]
    assert behaviors(M25, Behavior.NON_BLOCKING) == ["NON_BLOCKING"]
    assert behaviors(M31, Behavior.BLOCKING) == [None]
    assert behaviors(M38, Behavior.BLOCKING) == ["BLOCKING"]
    assert behaviors(M38, None) == [None]
    assert behaviors(M38T, Behavior.NON_BLOCKING, thinking_level="low") == [None]
    assert behaviors(UNKNOWN, Behavior.BLOCKING) == ["BLOCKING"]


def test_the_built_in_clock_tool_blocks_on_3_8() -> None:
    # Section 3.4: a clock tool wants BLOCKING (the answer needs the result); 3.8 would run it
    # in the background otherwise.
    [declaration] = body(
        Setup(model=M38, function_declarations=declarations_for(["get_time"], M38))
    )["tools"][0]["functionDeclarations"]
    assert declaration["behavior"] == "BLOCKING"


def test_realtime_input_options_and_language_codes() -> None:
    from edgevoice.live.frames import ActivityHandling, TurnCoverage

    setup = Setup(
        model=M38,
        activity_detection=ActivityDetection(disabled=True),
        activity_handling=ActivityHandling.NO_INTERRUPTION,
        turn_coverage=TurnCoverage.TURN_INCLUDES_ONLY_ACTIVITY,
        input_transcription=True,
        transcription_language_codes=("de-DE", "en"),
    )
    wire = body(setup)
    assert wire["realtimeInputConfig"] == {
        "automaticActivityDetection": {"disabled": True},
        "activityHandling": "NO_INTERRUPTION",
        "turnCoverage": "TURN_INCLUDES_ONLY_ACTIVITY",
    }
    assert wire["inputAudioTranscription"] == {"languageCodes": ["de-DE", "en"]}
    # None: not sent, the family default applies.
    assert "realtimeInputConfig" not in body(Setup(model=M38))


@pytest.mark.parametrize(
    ("options", "field", "needle"),
    [
        ({"transcription_language_codes": ("de",)}, "transcription_language_codes", "turn input"),
        (
            {"input_transcription": True, "transcription_language_codes": ("deutsch!",)},
            "transcription_language_codes",
            "not a BCP-47 code",
        ),
        (
            {"input_transcription": True, "transcription_language_codes": ("de", "DE")},
            "transcription_language_codes",
            "repeat",
        ),
        (
            {"input_transcription": True, "transcription_language_codes": ("x\nforged",)},
            "transcription_language_codes",
            r"'x\\x0aforged'",
        ),
        ({"thinking_budget": -2}, "thinking_budget", "-1 \\(dynamic\\)"),
        ({"thinking_budget": 2**40}, "thinking_budget", ">= 0"),
        ({"thinking_level": "extreme"}, "thinking_level", "not one of"),
        ({"thinking_level": "low", "thinking_budget": 0}, "thinking_level", "only the one"),
        ({"api_version": "v2"}, "api_version", "not one of"),
        ({"model": "a b"}, "model", "not a model id"),
        ({"model": "models/a/b"}, "model", "not a model id"),
        ({"model": "gemini\x1b[31m"}, "model", r"'gemini\\x1b\[31m' is not a model id"),
        ({"resumption_handle": "h"}, "resumption_handle", "needs session_resumption"),
    ],
)
def test_family_independent_checks(options: dict[str, Any], field: str, needle: str) -> None:
    # An unknown model: only these checks apply.
    fields = {"model": UNKNOWN} | options
    with pytest.raises(SetupError, match=needle) as info:
        Setup(**fields)
    assert info.value.field == field
    assert "\n" not in str(info.value)
