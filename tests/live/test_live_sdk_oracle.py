"""The official SDK (google-genai, pinned, test-only) as an oracle for every frame we send.

Every frame LiveSession emits, in every setup configuration, for every model family and for
every input kind, validates against `types.LiveClientMessage` (unknown keys forbidden at any
depth, unknown enum values turned into failures) through the wrapper in conftest.py, and the
SDK reads back the values we meant to send. The families' rules themselves are tested in
test_live_setup_rules.py; here every option a family accepts is put on the wire.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgevoice.live.frames import (
    ActivityDetection,
    ActivityHandling,
    AudioInput,
    ContentTurn,
    FunctionDeclaration,
    Scheduling,
    Sensitivity,
    Setup,
    SlidingWindowCompression,
    TextInput,
    TurnCoverage,
    encode_client_frame,
)
from edgevoice.live.models import Behavior
from edgevoice.live.session import LiveSession
from edgevoice.live.tools import LOCAL_TOOLS, declarations_for

Oracle = Callable[[str], Any]

MODEL_25 = "gemini-2.5-flash-native-audio-preview-12-2025"
MODEL_31 = "gemini-3.1-flash-live-preview"
MODEL_38 = "gemini-3.8-live"
MODEL_38T = "gemini-3.8-live-extended-thinking"
UNKNOWN = "gemini-9.9-live-future"

LIGHTS = FunctionDeclaration(
    "set_lights",
    "Switch the lights in a room.",
    {
        "type": "OBJECT",
        "properties": {
            "room": {"type": "STRING", "description": "Room name."},
            "on": {"type": "BOOLEAN"},
            "level": {"type": "INTEGER"},
        },
        "required": ["room", "on"],
    },
)


def declared(name: str, behavior: Behavior | None) -> FunctionDeclaration:
    return FunctionDeclaration(name, f"The {name} tool.", None, behavior)


# --------------------------------------------------------------------------------------------
# The oracle itself must be able to fail


@pytest.mark.parametrize(
    "raw",
    [
        '{"realtime_input":{"text":"x"}}',  # we promise camelCase
        '{"realtimeInput":{"text":"x"},"toolResponse":{"functionResponses":[]}}',  # two keys
        "{}",
        '{"config":{"model":"models/m"}}',  # the get-started guide's form is not the protocol
        '{"setup":{"model":"models/m","responseModalities":["AUDIO"]}}',  # flattened
        '{"realtimeInput":{"audio":{"data":"AAAA","mimeType":"audio/pcm","rate":1}}}',
        '{"setup":{"model":"m","generationConfig":{"responseModalities":["SMELL"]}}}',  # enum
        (
            '{"setup":{"model":"m","realtimeInputConfig":{"automaticActivityDetection":'
            '{"startOfSpeechSensitivity":"START_SENSITIVITY_MEDIUM"}}}}'
        ),
        '{"setup":{"model":"m","realtimeInputConfig":{"automaticActivityDetection":{"off":true}}}}',
        '{"setup":{"model":"m","realtimeInputConfig":{"turnCoverage":"TURN_INCLUDES_NOTHING"}}}',
        '{"setup":{"model":"m","generationConfig":{"thinkingConfig":{"thinkingLevel":"HUGE"}}}}',
        '{"setup":{"model":"m","inputAudioTranscription":{"languageCode":"de"}}}',  # singular
        '{"setup":{"model":"m","tools":[{"functionDeclarations":[{"name":"f","behavior":"X"}]}]}}',
        '{"toolResponse":{"functionResponses":[{"id":"a","name":"f","scheduling":"LATER"}]}}',
    ],
)
def test_the_oracle_rejects_bad_frames(raw: str, oracle: Oracle) -> None:
    with pytest.raises((AssertionError, ValueError, UserWarning)):
        oracle(raw)


# --------------------------------------------------------------------------------------------
# Setup in every configuration (a 2.5 model on v1beta, the long-standing default)

ACTIVITY_MODES: dict[str, dict[str, Any]] = {
    "manual": {"activity_detection": ActivityDetection(disabled=True)},
    "server-vad-defaults": {},
    "server-vad-tuned": {
        "activity_detection": ActivityDetection(
            start_sensitivity=Sensitivity.LOW,
            end_sensitivity=Sensitivity.HIGH,
            prefix_padding_ms=40,
            silence_duration_ms=800,
        )
    },
    "manual-no-interruption-all-input": {
        "activity_detection": ActivityDetection(disabled=True),
        "activity_handling": ActivityHandling.NO_INTERRUPTION,
        "turn_coverage": TurnCoverage.TURN_INCLUDES_ALL_INPUT,
    },
}
RESUMPTION_MODES: dict[str, dict[str, Any]] = {
    "no-resumption": {},
    "ask-for-handles": {"session_resumption": True},
    "resume-with-handle": {
        "session_resumption": True,
        "resumption_handle": "Cg5oYW5kbGUtZnJvbS1zZXJ2ZXI",
    },
}
EXTRAS: dict[str, dict[str, Any]] = {
    "bare": {"voice": None, "system_instruction": None},
    "transcripts": {"input_transcription": True, "output_transcription": True},
    "input-transcript-languages": {
        "input_transcription": True,
        "transcription_language_codes": ("de-DE", "en-US"),
    },
    "compression-defaults": {"compression": SlidingWindowCompression()},
    "compression-tokens": {"compression": SlidingWindowCompression(25600, 12800)},
    "tools": {"function_declarations": (*declarations_for(LOCAL_TOOLS, MODEL_25), LIGHTS)},
    "thinking-off": {"thinking_budget": 0},
    "thinking-dynamic": {"thinking_budget": -1},
    "non-blocking-tool": {
        "function_declarations": (declared("fetch_news", Behavior.NON_BLOCKING),)
    },
    "everything": {
        "voice": "Kore",
        "system_instruction": "Réponds brièvement.\nSay little.",
        "input_transcription": True,
        "output_transcription": True,
        "transcription_language_codes": ("fr-FR",),
        "compression": SlidingWindowCompression(100000),
        "thinking_budget": 0,
        "function_declarations": declarations_for(["get_time"], MODEL_25),
    },
}


def build_setup(activity: str, resumption: str, extra: str) -> Setup:
    fields: dict[str, Any] = {"model": MODEL_25, "voice": "Puck"}
    fields |= {"system_instruction": "You are terse."}
    fields |= ACTIVITY_MODES[activity] | RESUMPTION_MODES[resumption] | EXTRAS[extra]
    return Setup(**fields)


def setup_frame(setup: Setup, oracle: Oracle) -> Any:
    session = LiveSession(setup)
    session.start()
    [raw] = session.data_to_send()
    return oracle(raw)


@pytest.mark.parametrize(
    ("activity", "resumption", "extra"),
    list(itertools.product(ACTIVITY_MODES, RESUMPTION_MODES, EXTRAS)),
)
def test_setup_frame_validates_and_says_what_we_meant(
    activity: str, resumption: str, extra: str, oracle: Oracle
) -> None:
    setup = build_setup(activity, resumption, extra)
    checked = setup_frame(setup, oracle)
    wire = checked.message.setup
    assert wire is not None

    assert wire.model == "models/" + setup.model
    generation = wire.generation_config
    assert generation.response_modalities == [types.Modality.AUDIO]
    if setup.voice:
        assert generation.speech_config.voice_config.prebuilt_voice_config.voice_name == (
            setup.voice
        )
    else:
        assert generation.speech_config is None
    if setup.thinking_budget is not None:
        assert generation.thinking_config.thinking_budget == setup.thinking_budget
        assert generation.thinking_config.thinking_level is None
    else:
        assert generation.thinking_config is None
    assert generation.enable_affective_dialog is None  # v1beta: never sent
    assert wire.proactivity is None
    if setup.system_instruction:
        assert [p.text for p in wire.system_instruction.parts] == [setup.system_instruction]
    else:
        assert wire.system_instruction is None
    assert (wire.input_audio_transcription is not None) == setup.input_transcription
    if setup.input_transcription:
        codes = wire.input_audio_transcription.language_codes
        assert codes == (list(setup.transcription_language_codes) or None)
    assert (wire.output_audio_transcription is not None) == setup.output_transcription

    if setup.session_resumption:
        assert wire.session_resumption is not None
        assert wire.session_resumption.handle == setup.resumption_handle
    else:
        assert wire.session_resumption is None

    compression = wire.context_window_compression
    if setup.compression is not None:
        assert compression is not None and compression.sliding_window is not None
        assert compression.trigger_tokens == (setup.compression.trigger_tokens or None)
        assert compression.sliding_window.target_tokens == (setup.compression.target_tokens or None)
    else:
        assert compression is None

    if setup.function_declarations:
        [tool] = wire.tools
        by_name = {d.name: d for d in tool.function_declarations}
        assert list(by_name) == [d.name for d in setup.function_declarations]
        if "set_lights" in by_name:
            params = by_name["set_lights"].parameters
            assert params.type == types.Type.OBJECT
            assert params.required == ["room", "on"]
            assert params.properties["level"].type == types.Type.INTEGER
        if "get_time" in by_name:
            assert by_name["get_time"].behavior is None  # BLOCKING is 2.5's default: not sent
        if "fetch_news" in by_name:
            assert by_name["fetch_news"].behavior == types.Behavior.NON_BLOCKING
    else:
        assert wire.tools is None

    config = checked.realtime_input_config
    if activity == "server-vad-defaults":
        assert config is None  # server VAD with its defaults needs no config
        return
    detection = config.automatic_activity_detection
    assert bool(detection.disabled) == setup.manual_activity
    if activity == "server-vad-tuned":
        assert detection.start_of_speech_sensitivity == types.StartSensitivity.START_SENSITIVITY_LOW
        assert detection.end_of_speech_sensitivity == types.EndSensitivity.END_SENSITIVITY_HIGH
        assert detection.prefix_padding_ms == 40
        assert detection.silence_duration_ms == 800
    if activity == "manual-no-interruption-all-input":
        assert config.activity_handling == types.ActivityHandling.NO_INTERRUPTION
        assert config.turn_coverage == types.TurnCoverage.TURN_INCLUDES_ALL_INPUT
    else:
        assert config.activity_handling is None and config.turn_coverage is None


# --------------------------------------------------------------------------------------------
# Every family with every option it accepts


def family_setups() -> list[tuple[str, Setup]]:
    """(id, setup) for every option every family accepts, on the API versions it needs."""
    manual = ActivityDetection(disabled=True)
    cases: list[tuple[str, Setup]] = []
    for handling in ActivityHandling:
        for coverage in TurnCoverage:
            for model in (MODEL_25, MODEL_31, MODEL_38, UNKNOWN):
                level = {MODEL_31: "low"}.get(model)
                cases.append(
                    (
                        f"{model}-{handling.name}-{coverage.name}",
                        Setup(
                            model=model,
                            activity_detection=manual,
                            activity_handling=handling,
                            turn_coverage=coverage,
                            thinking_level=level,
                        ),
                    )
                )
    for level in ("minimal", "low", "medium", "HIGH"):
        cases.append((f"3.1-level-{level}", Setup(model=MODEL_31, thinking_level=level)))
    for level in ("low", "Medium", "high"):
        cases.append((f"3.8T-level-{level}", Setup(model=MODEL_38T, thinking_level=level)))
    for budget in (0, 1024, -1):
        cases.append((f"2.5-budget-{budget}", Setup(model=MODEL_25, thinking_budget=budget)))
    for flag in (True, False):
        cases.append(
            (
                f"2.5-v1alpha-proactive-affective-{flag}",
                Setup(
                    model=MODEL_25,
                    api_version="v1alpha",
                    proactive_audio=flag,
                    affective_dialog=flag,
                ),
            )
        )
    behaviors: list[tuple[str, str, Behavior | None]] = [
        ("2.5", MODEL_25, Behavior.NON_BLOCKING),
        ("2.5", MODEL_25, Behavior.BLOCKING),
        ("3.1", MODEL_31, Behavior.BLOCKING),
        ("3.8", MODEL_38, Behavior.BLOCKING),
        ("3.8", MODEL_38, Behavior.NON_BLOCKING),
        ("3.8", MODEL_38, None),
        ("3.8T", MODEL_38T, Behavior.NON_BLOCKING),
        ("unknown", UNKNOWN, Behavior.BLOCKING),
        ("unknown", UNKNOWN, Behavior.NON_BLOCKING),
    ]
    for label, model, behavior in behaviors:
        level = {MODEL_38T: "medium"}.get(model)
        cases.append(
            (
                f"{label}-behavior-{behavior and behavior.name}",
                Setup(
                    model=model,
                    thinking_level=level,
                    function_declarations=(declared("job", behavior), LIGHTS),
                ),
            )
        )
    cases += [
        ("3.8-proactive-true-not-sent", Setup(model=MODEL_38, proactive_audio=True)),
        ("3.8-affective-false-dropped", Setup(model=MODEL_38, affective_dialog=False)),
        ("3.1-proactive-false-dropped", Setup(model=MODEL_31, proactive_audio=False)),
        (
            "unknown-everything-sent",
            Setup(
                model=UNKNOWN,
                thinking_budget=0,
                proactive_audio=True,
                affective_dialog=True,
                api_version="v1alpha",
                input_transcription=True,
                transcription_language_codes=("ja-JP",),
            ),
        ),
    ]
    return cases


@pytest.mark.parametrize(("name", "setup"), family_setups(), ids=[c[0] for c in family_setups()])
def test_every_family_option_validates_and_reads_back(
    name: str, setup: Setup, oracle: Oracle
) -> None:
    checked = setup_frame(setup, oracle)
    wire = checked.message.setup
    generation = wire.generation_config
    thinking = generation.thinking_config
    if setup.thinking_budget is not None:
        assert thinking.thinking_budget == setup.thinking_budget
    elif setup.thinking_level is not None:
        assert thinking.thinking_level == types.ThinkingLevel(setup.thinking_level.upper())
    else:
        assert thinking is None
    # Sent only where the field exists (2.5 on v1alpha) or the model is unknown.
    sendable = setup.model == UNKNOWN or (
        setup.model == MODEL_25 and setup.api_version == "v1alpha"
    )
    expected_proactive = setup.proactive_audio if sendable else None
    assert (wire.proactivity and wire.proactivity.proactive_audio) == expected_proactive
    expected_affective = setup.affective_dialog if sendable else None
    assert generation.enable_affective_dialog == expected_affective
    if setup.input_transcription:
        assert wire.input_audio_transcription.language_codes == list(
            setup.transcription_language_codes
        )
    config = checked.realtime_input_config
    if setup.activity_handling is not None:
        assert config.activity_handling == types.ActivityHandling(setup.activity_handling.value)
        assert config.turn_coverage == types.TurnCoverage(setup.turn_coverage.value)  # type: ignore[union-attr]
    if setup.function_declarations:
        [tool] = wire.tools
        job = tool.function_declarations[0]
        behavior = setup.function_declarations[0].behavior
        family_default = {
            MODEL_25: Behavior.BLOCKING,
            MODEL_31: Behavior.BLOCKING,
            MODEL_38: Behavior.NON_BLOCKING,
            MODEL_38T: Behavior.NON_BLOCKING,
        }.get(setup.model)
        if behavior is None or behavior is family_default:
            assert job.behavior is None  # the family default is not repeated
        else:
            assert job.behavior == types.Behavior(behavior.value)
        assert tool.function_declarations[1].behavior is None


# --------------------------------------------------------------------------------------------
# Every other frame the session emits


def drive(setup: Setup) -> list[str]:
    """A whole conversation through the public API; every frame the session queued."""
    session = LiveSession(setup)
    sent: list[str] = []
    session.start()
    sent += session.data_to_send()
    session.receive(b'{"setupComplete":{}}', now=0.0)
    if setup.manual_activity:
        session.begin_activity()
    session.send_audio(bytes(range(256)) * 5)
    session.send_audio(b"")
    if setup.manual_activity:
        session.end_activity()
    else:
        session.audio_stream_end()
    session.send_text("Wie spät ist es?")
    session.send_client_content([ContentTurn("user", "hi"), ContentTurn("model", "hello")])
    session.send_client_content([], turn_complete=True)
    session.receive(
        json.dumps(
            {
                "toolCall": {
                    "functionCalls": [
                        {"id": "fc-1", "name": "get_time", "args": {}},
                        {"id": "fc-2", "name": "set_lights", "args": {"room": "x", "on": True}},
                    ]
                }
            }
        ),
        now=1.0,
    )
    session.send_tool_response("fc-1", "get_time", {"local_time": "Tue 14:05"})
    session.send_tool_response(
        "fc-2", "set_lights", {"result": "ok", "nested": {"list": [1, 2.5, None, "x", False]}}
    )
    sent += session.data_to_send()
    return sent


@pytest.mark.parametrize("manual", [True, False], ids=["manual", "server-vad"])
def test_every_frame_of_a_conversation_validates(manual: bool, oracle: Oracle) -> None:
    setup = build_setup("manual" if manual else "server-vad-tuned", "ask-for-handles", "tools")
    frames = drive(setup)
    messages = [oracle(raw).message for raw in frames]
    kinds = []
    for message in messages:
        if message.setup is not None:
            kinds.append("setup")
        elif message.tool_response is not None:
            kinds.append("toolResponse")
        elif message.client_content is not None:
            kinds.append("clientContent")
        else:
            realtime = message.realtime_input
            set_fields = [
                k for k, v in realtime.model_dump(exclude_none=True).items() if v is not None
            ]
            assert len(set_fields) == 1, set_fields  # one realtimeInput field per frame
            kinds.append(set_fields[0])
    middle = ["activity_start"] if manual else []
    end = ["activity_end"] if manual else ["audio_stream_end"]
    assert kinds == [
        "setup",
        *middle,
        "audio",
        "audio",
        *end,
        "text",
        "clientContent",
        "clientContent",
        "toolResponse",
        "toolResponse",
    ]


@pytest.mark.parametrize("scheduling", list(Scheduling), ids=lambda s: s.name)
def test_scheduled_responses_to_non_blocking_calls_validate(
    scheduling: Scheduling, oracle: Oracle
) -> None:
    # gemini-3.8 runs undeclared-behaviour calls NON_BLOCKING (section 9): scheduling applies.
    session = LiveSession(Setup(model=MODEL_38, function_declarations=(LIGHTS,)))
    session.start()
    session.receive('{"setupComplete":{}}', now=0.0)
    session.receive(
        '{"toolCall":{"functionCalls":[{"id":"c1","name":"set_lights","args":{}}]}}', now=0.0
    )
    session.data_to_send()
    session.send_tool_response("c1", "set_lights", {"result": "ok"}, scheduling)
    [raw] = session.data_to_send()
    # Top level of the FunctionResponse, as the SDK type has it (see frames.FunctionResponse).
    assert json.loads(raw)["toolResponse"]["functionResponses"][0]["scheduling"] == scheduling.value
    [response] = oracle(raw).message.tool_response.function_responses
    assert response.scheduling == types.FunctionResponseScheduling(scheduling.value)
    assert response.response == {"result": "ok"}


def test_frames_equal_what_the_sdk_builds(oracle: Oracle) -> None:
    pcm = bytes(range(256)) * 3
    assert oracle(encode_client_frame(AudioInput(pcm))).message == types.LiveClientMessage(
        realtime_input=types.LiveClientRealtimeInput(
            audio=types.Blob(data=pcm, mime_type="audio/pcm;rate=16000")
        )
    )
    assert oracle(encode_client_frame(TextInput("héllo"))).message == types.LiveClientMessage(
        realtime_input=types.LiveClientRealtimeInput(text="héllo")
    )
    session = LiveSession(build_setup("manual", "ask-for-handles", "tools"))
    session.start()
    session.receive('{"setupComplete":{}}', now=0.0)
    session.begin_activity()
    session.end_activity()
    session.receive('{"toolCall":{"functionCalls":[{"id":"f","name":"get_time"}]}}', now=0.0)
    session.send_tool_response("f", "get_time", {"local_time": "noon"})
    session.send_client_content([ContentTurn("user", "hi")])
    _, start, end, response, content = (oracle(f).message for f in session.data_to_send())
    assert start == types.LiveClientMessage(
        realtime_input=types.LiveClientRealtimeInput(activity_start=types.ActivityStart())
    )
    assert end == types.LiveClientMessage(
        realtime_input=types.LiveClientRealtimeInput(activity_end=types.ActivityEnd())
    )
    assert response == types.LiveClientMessage(
        tool_response=types.LiveClientToolResponse(
            function_responses=[
                types.FunctionResponse(id="f", name="get_time", response={"local_time": "noon"})
            ]
        )
    )
    assert content == types.LiveClientMessage(
        client_content=types.LiveClientContent(
            turns=[types.Content(role="user", parts=[types.Part(text="hi")])], turn_complete=True
        )
    )


# The oracle fixture is a stateless function, so sharing it across examples is safe.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pcm=st.binary(max_size=4000).map(lambda b: b[: len(b) // 2 * 2]),
    rate=st.sampled_from([8000, 16000, 24000, 48000]),
    text=st.text(max_size=200),
)
def test_property_audio_and_text_survive_the_sdk(
    pcm: bytes, rate: int, text: str, oracle: Oracle
) -> None:
    check = oracle
    audio = check(encode_client_frame(AudioInput(pcm, rate))).message.realtime_input.audio
    assert audio.data == pcm
    assert audio.mime_type == f"audio/pcm;rate={rate}"
    assert check(encode_client_frame(TextInput(text))).message.realtime_input.text == text
