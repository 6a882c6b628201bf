"""encode_client_frame and the frame classes: documented camelCase wire forms, compact JSON, and
refusal of frames the protocol does not allow (docs/live-protocol.md sections 2-3)."""

from __future__ import annotations

import base64
import json
import math

import pytest

from edgevoice.errors import LocalProtocolError
from edgevoice.live.frames import (
    ActivityDetection,
    ActivityEnd,
    ActivityStart,
    AudioInput,
    AudioStreamEnd,
    ClientContent,
    ContentTurn,
    FunctionDeclaration,
    FunctionResponse,
    Sensitivity,
    Setup,
    SlidingWindowCompression,
    TextInput,
    ToolResponse,
    encode_client_frame,
)


def test_realtime_frames_have_the_documented_compact_form() -> None:
    assert encode_client_frame(AudioInput(b"\x01\x02\xfb\xff")) == (
        '{"realtimeInput":{"audio":{"data":"AQL7/w==","mimeType":"audio/pcm;rate=16000"}}}'
    )
    assert encode_client_frame(TextInput("hi")) == '{"realtimeInput":{"text":"hi"}}'
    assert encode_client_frame(ActivityStart()) == '{"realtimeInput":{"activityStart":{}}}'
    assert encode_client_frame(ActivityEnd()) == '{"realtimeInput":{"activityEnd":{}}}'
    assert encode_client_frame(AudioStreamEnd()) == '{"realtimeInput":{"audioStreamEnd":true}}'


def test_audio_round_trips_through_standard_base64() -> None:
    pcm = bytes(range(256)) * 10
    wire = json.loads(encode_client_frame(AudioInput(pcm, rate=48000)))
    audio = wire["realtimeInput"]["audio"]
    assert base64.b64decode(audio["data"], validate=True) == pcm
    assert audio["mimeType"] == "audio/pcm;rate=48000"


def test_text_keeps_non_ascii_characters() -> None:
    text = "Wie spät ist es? 今何時"
    raw = encode_client_frame(TextInput(text))
    assert text in raw
    assert json.loads(raw) == {"realtimeInput": {"text": text}}


def test_tool_response_form() -> None:
    frame = ToolResponse((FunctionResponse("fc-1", "get_time", {"local_time": "12:00"}),))
    assert encode_client_frame(frame) == (
        '{"toolResponse":{"functionResponses":[{"id":"fc-1","name":"get_time",'
        '"response":{"local_time":"12:00"}}]}}'
    )


def test_client_content_form() -> None:
    frame = ClientContent((ContentTurn("user", "hi"), ContentTurn("model", "hello")), False)
    assert json.loads(encode_client_frame(frame)) == {
        "clientContent": {
            "turns": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "hello"}]},
            ],
            "turnComplete": False,
        }
    }


def test_minimal_setup() -> None:
    assert encode_client_frame(Setup(model="gemini-x")) == (
        '{"setup":{"model":"models/gemini-x","generationConfig":{"responseModalities":["AUDIO"]}}}'
    )
    prefixed = json.loads(encode_client_frame(Setup(model="models/gemini-x")))
    assert prefixed["setup"]["model"] == "models/gemini-x"


def test_full_setup() -> None:
    setup = Setup(
        model="gemini-x",
        voice="Kore",
        system_instruction="Be brief.",
        input_transcription=True,
        output_transcription=True,
        session_resumption=True,
        resumption_handle="h-1",
        compression=SlidingWindowCompression(trigger_tokens=25600, target_tokens=12800),
        activity_detection=ActivityDetection(disabled=True),
        function_declarations=(
            FunctionDeclaration("get_time", "Local time."),
            FunctionDeclaration(
                "lights",
                "Switch lights.",
                {"type": "OBJECT", "properties": {"on": {"type": "BOOLEAN"}}},
            ),
        ),
    )
    assert json.loads(encode_client_frame(setup)) == {
        "setup": {
            "model": "models/gemini-x",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
            },
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [
                {
                    "functionDeclarations": [
                        {"name": "get_time", "description": "Local time."},
                        {
                            "name": "lights",
                            "description": "Switch lights.",
                            "parameters": {
                                "type": "OBJECT",
                                "properties": {"on": {"type": "BOOLEAN"}},
                            },
                        },
                    ]
                }
            ],
            "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
            "sessionResumption": {"handle": "h-1"},
            "contextWindowCompression": {
                "triggerTokens": 25600,
                "slidingWindow": {"targetTokens": 12800},
            },
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
        }
    }


def test_setup_server_vad_tuning_and_defaults() -> None:
    tuned = Setup(
        model="m",
        activity_detection=ActivityDetection(
            start_sensitivity=Sensitivity.HIGH,
            end_sensitivity=Sensitivity.LOW,
            prefix_padding_ms=20,
            silence_duration_ms=600,
        ),
        session_resumption=True,
        compression=SlidingWindowCompression(),
    )
    body = json.loads(encode_client_frame(tuned))["setup"]
    assert body["realtimeInputConfig"] == {
        "automaticActivityDetection": {
            "startOfSpeechSensitivity": "START_SENSITIVITY_HIGH",
            "endOfSpeechSensitivity": "END_SENSITIVITY_LOW",
            "prefixPaddingMs": 20,
            "silenceDurationMs": 600,
        }
    }
    assert body["sessionResumption"] == {}  # asks for handles
    assert body["contextWindowCompression"] == {"slidingWindow": {}}  # server defaults
    # Server VAD with its defaults needs no realtimeInputConfig at all.
    assert "realtimeInputConfig" not in json.loads(encode_client_frame(Setup(model="m")))["setup"]


def test_frames_are_compact_single_line_json() -> None:
    for frame in (Setup(model="m", system_instruction="a\nb"), TextInput("x\ny")):
        raw = encode_client_frame(frame)
        assert "\n" not in raw
        assert ", " not in raw and ": " not in raw


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: AudioInput(b"\x01"), "even number"),
        (lambda: AudioInput(b"", rate=0), "positive"),
        (lambda: FunctionDeclaration("9lives", "x"), "function name"),
        (lambda: FunctionDeclaration("has space", "x"), "function name"),
        (lambda: FunctionDeclaration("", "x"), "function name"),
        (lambda: FunctionDeclaration("a" * 65, "x"), "function name"),
        (lambda: FunctionResponse("", "n", {}), "needs the id"),
        (lambda: ToolResponse(()), "at least one"),
        (lambda: Setup(model=""), "not a model id"),
        (lambda: Setup(model="models/"), "not a model id"),
        (lambda: Setup(model="bad model"), "not a model id"),
        (lambda: Setup(model="m", resumption_handle="h"), "needs session_resumption"),
        (lambda: Setup(model="m", session_resumption=True, resumption_handle=""), "empty"),
        (
            lambda: Setup(
                model="m",
                function_declarations=(
                    FunctionDeclaration("a", "x"),
                    FunctionDeclaration("a", "y"),
                ),
            ),
            "repeat a name",
        ),
        (lambda: SlidingWindowCompression(-1, 0), ">= 0"),
        (lambda: SlidingWindowCompression(100, 200), "exceeds trigger_tokens"),
        (
            lambda: ActivityDetection(disabled=True, end_sensitivity=Sensitivity.LOW),
            "automatic activity detection disabled",
        ),
        (lambda: ActivityDetection(disabled=True, silence_duration_ms=500), "disabled"),
        (lambda: ActivityDetection(silence_duration_ms=-1), r"0\.\.2147483647 ms, got -1"),
    ],
)
def test_invalid_frames_are_refused_when_built(build: object, needle: str) -> None:
    with pytest.raises(LocalProtocolError, match=needle):
        build()  # type: ignore[operator]


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": math.nan}, {"x": {1, 2}}])
def test_tool_response_that_is_not_json_is_refused_on_encoding(bad: dict[str, object]) -> None:
    frame = ToolResponse((FunctionResponse("a", "n", bad),))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="not JSON-serialisable"):
        encode_client_frame(frame)


def test_frames_are_frozen() -> None:
    frame = TextInput("a")
    with pytest.raises(AttributeError):
        frame.text = "b"  # type: ignore[misc]
