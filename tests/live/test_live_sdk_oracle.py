"""The official SDK (google-genai, pinned, test-only) as an independent oracle.

1. Every frame LiveSession emits, in every setup configuration and for every input kind,
   validates against `types.LiveClientMessage` (unknown keys forbidden at any depth, unknown enum
   values turned into failures) through the wrapper in conftest.py, and the SDK reads back the
   same values we meant to send.
2. The SDK's own server message objects, dumped the way the SDK dumps them (camelCase and
   snake_case, URL-safe base64), decode to the events they describe.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgevoice.live.messages import (
    AudioChunk,
    AudioInput,
    ContentTurn,
    FunctionDeclaration,
    GenerationComplete,
    GoAway,
    InputTranscription,
    Interrupted,
    OutputTranscription,
    Sensitivity,
    SessionResumptionUpdate,
    SetupComplete,
    TextInput,
    TextPart,
    Thought,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UsageMetadata,
    WaitingForInput,
    decode_server_message,
    encode_client_frame,
)
from edgevoice.live.session import LiveSession, SessionOptions
from edgevoice.live.tools import declarations_for

Oracle = Callable[[str], Any]

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
    ],
)
def test_the_oracle_rejects_bad_frames(raw: str, oracle: Oracle) -> None:
    with pytest.raises((AssertionError, ValueError, UserWarning)):
        oracle(raw)


# --------------------------------------------------------------------------------------------
# Setup in every configuration

ACTIVITY_MODES: dict[str, dict[str, Any]] = {
    "manual": {"manual_activity": True},
    "server-vad-defaults": {"manual_activity": False},
    "server-vad-tuned": {
        "manual_activity": False,
        "start_sensitivity": Sensitivity.LOW,
        "end_sensitivity": Sensitivity.HIGH,
        "prefix_padding_ms": 40,
        "silence_duration_ms": 800,
    },
}
RESUMPTION_MODES: dict[str, dict[str, Any]] = {
    "no-resumption": {"resumption": False},
    "ask-for-handles": {"resumption": True},
    "resume-with-handle": {"resumption": True, "resumption_handle": "Cg5oYW5kbGUtZnJvbS1zZXJ2ZXI"},
}
EXTRAS: dict[str, dict[str, Any]] = {
    "bare": {"voice": None, "system_instruction": None},
    "transcripts": {"input_transcription": True, "output_transcription": True},
    "input-transcript-only": {"input_transcription": True},
    "compression-defaults": {"compression": True},
    "compression-tokens": {
        "compression": True,
        "compression_trigger_tokens": 25600,
        "compression_target_tokens": 12800,
    },
    "tools": {"tools": (*declarations_for(["get_time"]), LIGHTS)},
    "everything": {
        "voice": "Kore",
        "system_instruction": "Réponds brièvement.\nSay little.",
        "input_transcription": True,
        "output_transcription": True,
        "compression": True,
        "compression_trigger_tokens": 100000,
        "tools": declarations_for(["get_time"]),
    },
}


def build_options(activity: str, resumption: str, extra: str) -> SessionOptions:
    fields: dict[str, Any] = {"model": "gemini-2.5-flash-native-audio-preview-12-2025"}
    fields |= {"voice": "Puck", "system_instruction": "You are terse."}
    fields |= ACTIVITY_MODES[activity] | RESUMPTION_MODES[resumption] | EXTRAS[extra]
    return SessionOptions(**fields)


@pytest.mark.parametrize(
    ("activity", "resumption", "extra"),
    list(itertools.product(ACTIVITY_MODES, RESUMPTION_MODES, EXTRAS)),
)
def test_setup_frame_validates_and_says_what_we_meant(
    activity: str, resumption: str, extra: str, oracle: Oracle
) -> None:
    options = build_options(activity, resumption, extra)
    session = LiveSession(options)
    session.start()
    [raw] = session.data_to_send()
    checked = oracle(raw)
    setup = checked.message.setup
    assert setup is not None

    assert setup.model == "models/" + options.model
    assert setup.generation_config.response_modalities == [types.Modality.AUDIO]
    speech = setup.generation_config.speech_config
    if options.voice:
        assert speech.voice_config.prebuilt_voice_config.voice_name == options.voice
    else:
        assert speech is None
    if options.system_instruction:
        assert [p.text for p in setup.system_instruction.parts] == [options.system_instruction]
    else:
        assert setup.system_instruction is None
    assert (setup.input_audio_transcription is not None) == options.input_transcription
    assert (setup.output_audio_transcription is not None) == options.output_transcription

    if options.resumption:
        assert setup.session_resumption is not None
        assert setup.session_resumption.handle == options.resumption_handle
    else:
        assert setup.session_resumption is None

    compression = setup.context_window_compression
    if options.compression:
        assert compression is not None and compression.sliding_window is not None
        assert compression.trigger_tokens == (options.compression_trigger_tokens or None)
        assert compression.sliding_window.target_tokens == (
            options.compression_target_tokens or None
        )
    else:
        assert compression is None

    if options.tools:
        [tool] = setup.tools
        declared = {d.name: d for d in tool.function_declarations}
        assert list(declared) == [d.name for d in options.tools]
        if "set_lights" in declared:
            params = declared["set_lights"].parameters
            assert params.type == types.Type.OBJECT
            assert params.required == ["room", "on"]
            assert params.properties["level"].type == types.Type.INTEGER
    else:
        assert setup.tools is None

    config = checked.realtime_input_config
    if activity == "server-vad-defaults":
        assert config is None  # server VAD with its defaults needs no config
    else:
        detection = config.automatic_activity_detection
        assert bool(detection.disabled) == options.manual_activity
        if activity == "server-vad-tuned":
            low = types.StartSensitivity.START_SENSITIVITY_LOW
            high = types.EndSensitivity.END_SENSITIVITY_HIGH
            assert detection.start_of_speech_sensitivity == low
            assert detection.end_of_speech_sensitivity == high
            assert detection.prefix_padding_ms == 40
            assert detection.silence_duration_ms == 800


# --------------------------------------------------------------------------------------------
# Every other frame the session emits


def drive(options: SessionOptions) -> list[str]:
    """A whole conversation through the public API; every frame the session queued."""
    session = LiveSession(options)
    sent: list[str] = []
    session.start()
    sent += session.data_to_send()
    session.receive(b'{"setupComplete":{}}', now=0.0)
    if options.manual_activity:
        session.begin_activity()
    session.send_audio(bytes(range(256)) * 5)
    session.send_audio(b"")
    if options.manual_activity:
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
    options = build_options("manual" if manual else "server-vad-tuned", "ask-for-handles", "tools")
    frames = drive(options)
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
    session = LiveSession(build_options("manual", "ask-for-handles", "tools"))
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


# --------------------------------------------------------------------------------------------
# The SDK's server messages through our decoder


def dumps(message: types.LiveServerMessage, *, camel: bool) -> str:
    return json.dumps(message.model_dump(mode="json", by_alias=camel, exclude_none=True))


PCM_OUT = bytes(range(255, -1, -1)) * 2  # URL-safe and standard base64 differ on these bytes


def sdk_server_messages() -> list[tuple[str, types.LiveServerMessage, list[Any]]]:
    audio = types.Blob(data=PCM_OUT, mime_type="audio/pcm;rate=24000")
    return [
        (
            "setup-complete",
            types.LiveServerMessage(setup_complete=types.LiveServerSetupComplete(session_id="s1")),
            [SetupComplete("s1")],
        ),
        (
            "audio-and-transcripts",
            types.LiveServerMessage(
                server_content=types.LiveServerContent(
                    model_turn=types.Content(
                        role="model",
                        parts=[
                            types.Part(inline_data=audio),
                            types.Part(text="pondering", thought=True),
                            types.Part(text="visible"),
                        ],
                    ),
                    input_transcription=types.Transcription(text="what time is it"),
                    output_transcription=types.Transcription(text="It is", finished=True),
                )
            ),
            [
                AudioChunk(PCM_OUT, 24000),
                Thought("pondering"),
                TextPart("visible"),
                InputTranscription("what time is it"),
                OutputTranscription("It is", True),
            ],
        ),
        (
            "end-of-turn-with-usage",
            types.LiveServerMessage(
                server_content=types.LiveServerContent(
                    generation_complete=True,
                    turn_complete=True,
                    turn_complete_reason=types.TurnCompleteReason.NEED_MORE_INPUT,
                    waiting_for_input=True,
                ),
                usage_metadata=types.UsageMetadata(
                    prompt_token_count=147,
                    response_token_count=36,
                    total_token_count=183,
                    prompt_tokens_details=[
                        types.ModalityTokenCount(modality=types.MediaModality.AUDIO, token_count=80)
                    ],
                ),
            ),
            [
                GenerationComplete(),
                WaitingForInput(),
                "usage",
                TurnComplete("NEED_MORE_INPUT"),
            ],
        ),
        (
            "interrupted",
            types.LiveServerMessage(
                server_content=types.LiveServerContent(interrupted=True, turn_complete=True)
            ),
            [Interrupted(), TurnComplete()],
        ),
        (
            "tool-call",
            types.LiveServerMessage(
                tool_call=types.LiveServerToolCall(
                    function_calls=[
                        types.FunctionCall(id="fc-1", name="get_time", args={}),
                        types.FunctionCall(
                            id="fc-2", name="set_lights", args={"room": "hall", "on": True}
                        ),
                    ]
                )
            ),
            ["tool-call"],
        ),
        (
            "tool-call-cancellation",
            types.LiveServerMessage(
                tool_call_cancellation=types.LiveServerToolCallCancellation(ids=["fc-1", "fc-2"])
            ),
            [ToolCallCancellation(("fc-1", "fc-2"))],
        ),
        (
            "go-away",
            types.LiveServerMessage(go_away=types.LiveServerGoAway(time_left="9.5s")),
            [GoAway(9.5)],
        ),
        (
            "resumption-update",
            types.LiveServerMessage(
                session_resumption_update=types.LiveServerSessionResumptionUpdate(
                    new_handle="handle-1", resumable=True, last_consumed_client_message_index=42
                )
            ),
            [SessionResumptionUpdate("handle-1", True, 42)],
        ),
        (
            "resumption-not-resumable",
            types.LiveServerMessage(
                session_resumption_update=types.LiveServerSessionResumptionUpdate(resumable=False)
            ),
            [SessionResumptionUpdate("", False, None)],
        ),
    ]


@pytest.mark.parametrize("camel", [True, False], ids=["camelCase", "snake_case"])
@pytest.mark.parametrize(
    ("name", "message", "expected"),
    sdk_server_messages(),
    ids=[m[0] for m in sdk_server_messages()],
)
def test_sdk_server_messages_decode(
    name: str, message: types.LiveServerMessage, expected: list[Any], camel: bool
) -> None:
    raw = dumps(message, camel=camel)
    if camel:
        # The dump is what the SDK itself would accept from the wire.
        assert types.LiveServerMessage.model_validate_json(raw) == message
    events = decode_server_message(raw.encode())  # the real server sends binary frames
    resolved: list[Any] = []
    for item in expected:
        if item == "usage":
            usage = message.usage_metadata
            assert usage is not None
            resolved.append(
                UsageMetadata(
                    usage.prompt_token_count or 0,
                    usage.response_token_count or 0,
                    usage.total_token_count or 0,
                    json.loads(raw)["usageMetadata" if camel else "usage_metadata"],
                )
            )
        elif item == "tool-call":
            calls = message.tool_call.function_calls  # type: ignore[union-attr]
            [event] = events
            assert isinstance(event, ToolCall)
            assert [(c.id, c.name, dict(c.args)) for c in event.calls] == [
                (c.id, c.name, c.args) for c in calls
            ]
            return
        else:
            resolved.append(item)
    assert events == resolved


def test_sdk_dump_uses_url_safe_base64_and_we_read_it() -> None:
    message = sdk_server_messages()[1][1]
    raw = dumps(message, camel=True)
    data = json.loads(raw)["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
    assert "_" in data or "-" in data  # the SDK's alphabet, not the docs'
    assert decode_server_message(raw)[0] == AudioChunk(PCM_OUT, 24000)


@settings(max_examples=60, deadline=None)
@given(
    pcm=st.binary(max_size=3000).map(lambda b: b[: len(b) // 2 * 2]),
    text=st.text(max_size=100),
    args=st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=4,
    ),
)
def test_property_sdk_server_messages_round_trip(
    pcm: bytes, text: str, args: dict[str, Any]
) -> None:
    content = types.LiveServerMessage(
        server_content=types.LiveServerContent(
            model_turn=types.Content(
                parts=[
                    types.Part(inline_data=types.Blob(data=pcm, mime_type="audio/pcm;rate=24000"))
                ]
            ),
            output_transcription=types.Transcription(text=text, finished=True),
        )
    )
    assert decode_server_message(dumps(content, camel=True)) == [
        AudioChunk(pcm, 24000),
        OutputTranscription(text, True),
    ]
    call = types.LiveServerMessage(
        tool_call=types.LiveServerToolCall(
            function_calls=[types.FunctionCall(id="x", name="f", args=args)]
        )
    )
    [event] = decode_server_message(dumps(call, camel=False))
    assert isinstance(event, ToolCall)
    assert dict(event.calls[0].args) == args


def test_hand_written_fixtures_are_real_server_frames() -> None:
    """The frames the session tests feed in are valid for the SDK too (no invented shapes)."""
    frames = [
        '{"setupComplete":{}}',
        '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
        '{"mimeType":"audio/pcm;rate=24000","data":"AAABAA=="}}]}}}',
        '{"serverContent":{"turnComplete":true}}',
        '{"serverContent":{"interrupted":true,"turnComplete":true}}',
        '{"serverContent":{"outputTranscription":{"text":"a"}}}',
        '{"toolCall":{"functionCalls":[{"id":"fc-1","name":"get_time","args":{}}]}}',
        '{"toolCallCancellation":{"ids":["b"]}}',
        '{"goAway":{"timeLeft":"10s"}}',
        '{"sessionResumptionUpdate":{"newHandle":"h1","resumable":true}}',
        '{"usageMetadata":{"totalTokenCount":1}}',
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for raw in frames:
            types.LiveServerMessage.model_validate_json(raw)
