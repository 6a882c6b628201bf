"""decode_server_message: every server message kind, multi-field messages, liberal input, and
malformed frames (docs/live-protocol.md section 4)."""

from __future__ import annotations

import base64
import json

import pytest

from edgevoice.errors import RemoteProtocolError
from edgevoice.live.decode import decode_server_message, parse_duration
from edgevoice.live.events import (
    AudioChunk,
    GenerationComplete,
    GoAway,
    IgnoredFields,
    InputTranscription,
    Interrupted,
    OutputTranscription,
    SessionResumptionUpdate,
    SetupComplete,
    TextPart,
    Thought,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UsageMetadata,
    WaitingForInput,
)

PCM = bytes(range(256)) * 4  # contains bytes that differ between the base64 alphabets


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def audio_part(data: bytes, mime: str = "audio/pcm;rate=24000") -> dict[str, object]:
    return {"inlineData": {"mimeType": mime, "data": b64(data)}}


def frame(obj: object) -> str:
    return json.dumps(obj)


# --------------------------------------------------------------------------------------------
# One kind at a time


def test_setup_complete_with_and_without_session_id() -> None:
    assert decode_server_message('{"setupComplete":{}}') == [SetupComplete(None)]
    assert decode_server_message('{"setupComplete":{"sessionId":"s-1"}}') == [SetupComplete("s-1")]


def test_audio_chunk_carries_pcm_and_rate() -> None:
    msg = {"serverContent": {"modelTurn": {"role": "model", "parts": [audio_part(PCM)]}}}
    assert decode_server_message(frame(msg)) == [AudioChunk(PCM, 24000)]


@pytest.mark.parametrize(
    ("mime", "rate"),
    [
        ("audio/pcm;rate=24000", 24000),
        ("audio/pcm;rate=16000", 16000),
        ("audio/pcm", 24000),  # no rate: the documented output rate
        ("AUDIO/PCM; Rate=48000", 48000),
        ("audio/pcm;rate=22050;channels=1", 22050),
        ("audio/L16;rate=24000", 24000),
    ],
)
def test_audio_rate_is_read_from_the_mime_type(mime: str, rate: int) -> None:
    msg = {"serverContent": {"modelTurn": {"parts": [audio_part(b"\x01\x00", mime)]}}}
    assert decode_server_message(frame(msg)) == [AudioChunk(b"\x01\x00", rate)]


def test_audio_without_mime_type_is_taken_as_24k() -> None:
    msg = {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": b64(b"ab")}}]}}}
    assert decode_server_message(frame(msg)) == [AudioChunk(b"ab", 24000)]


def test_text_and_thought_parts_keep_their_order() -> None:
    parts = [
        {"text": "thinking...", "thought": True},
        audio_part(b"\x01\x02"),
        {"text": "hello"},
        audio_part(b"\x03\x04"),
    ]
    msg = {"serverContent": {"modelTurn": {"parts": parts}}}
    assert decode_server_message(frame(msg)) == [
        Thought("thinking..."),
        AudioChunk(b"\x01\x02"),
        TextPart("hello"),
        AudioChunk(b"\x03\x04"),
    ]


def test_transcriptions() -> None:
    msg = {
        "serverContent": {
            "inputTranscription": {"text": "what time"},
            "outputTranscription": {"text": "It is", "finished": False},
        }
    }
    assert decode_server_message(frame(msg)) == [
        InputTranscription("what time", False),
        OutputTranscription("It is", False),
    ]
    done = {"serverContent": {"inputTranscription": {"finished": True}}}
    assert decode_server_message(frame(done)) == [InputTranscription("", True)]
    empty = {"serverContent": {"outputTranscription": {}}}
    assert decode_server_message(frame(empty)) == []


def test_flags_generation_complete_interrupted_waiting_turn_complete() -> None:
    assert decode_server_message('{"serverContent":{"generationComplete":true}}') == [
        GenerationComplete()
    ]
    assert decode_server_message('{"serverContent":{"interrupted":true}}') == [Interrupted()]
    assert decode_server_message('{"serverContent":{"waitingForInput":true}}') == [
        WaitingForInput()
    ]
    assert decode_server_message('{"serverContent":{"turnComplete":true}}') == [TurnComplete()]
    assert decode_server_message(
        '{"serverContent":{"turnComplete":true,"turnCompleteReason":"NEED_MORE_INPUT"}}'
    ) == [TurnComplete("NEED_MORE_INPUT")]
    false_flags = (
        '{"serverContent":{"turnComplete":false,"interrupted":false,"generationComplete":false}}'
    )
    assert decode_server_message(false_flags) == []


def test_booleans_may_come_as_strings_as_proto3_json_allows() -> None:
    # Issue #8 item 6: proto3 JSON parsers accept "true" and "false" for a bool.
    msg = '{"serverContent":{"turnComplete":"true","interrupted":"false"}}'
    assert decode_server_message(msg) == [TurnComplete()]
    update = '{"sessionResumptionUpdate":{"newHandle":"h","resumable":"true"}}'
    assert decode_server_message(update) == [SessionResumptionUpdate("h", True)]
    done = '{"serverContent":{"outputTranscription":{"text":"a","finished":"false"}}}'
    assert decode_server_message(done) == [OutputTranscription("a", False)]


def test_turn_complete_reason_without_turn_complete_is_reported_as_ignored() -> None:
    msg = '{"serverContent":{"turnCompleteReason":"NEED_MORE_INPUT"}}'
    assert decode_server_message(msg) == [IgnoredFields(("serverContent.turnCompleteReason",))]


def test_tool_call() -> None:
    msg = {
        "toolCall": {
            "functionCalls": [
                {"id": "fc-1", "name": "get_time", "args": {}},
                {"id": "fc-2", "name": "lights", "args": {"on": True, "room": ["a", 1, None]}},
                {"id": "fc-3", "name": "no_args"},
            ]
        }
    }
    [event] = decode_server_message(frame(msg))
    assert isinstance(event, ToolCall)
    assert [(c.id, c.name, dict(c.args)) for c in event.calls] == [
        ("fc-1", "get_time", {}),
        ("fc-2", "lights", {"on": True, "room": ["a", 1, None]}),
        ("fc-3", "no_args", {}),
    ]


def test_tool_call_cancellation() -> None:
    assert decode_server_message('{"toolCallCancellation":{"ids":["a","b"]}}') == [
        ToolCallCancellation(("a", "b"))
    ]
    assert decode_server_message('{"toolCallCancellation":{"ids":[]}}') == []
    assert decode_server_message('{"toolCall":{"functionCalls":[]}}') == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("9.5s", 9.5),
        ("0.000001s", 0.000001),
        ("0s", 0.0),
        ("50s", 50.0),
        ("1.000000001s", 1.000000001),
        ("3600.25s", 3600.25),
    ],
)
def test_go_away_durations(text: str, seconds: float) -> None:
    [event] = decode_server_message(frame({"goAway": {"timeLeft": text}}))
    assert isinstance(event, GoAway)
    assert event.time_left_seconds == pytest.approx(seconds, abs=1e-12)
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


def test_go_away_without_time_left_means_zero_and_numbers_are_seconds() -> None:
    assert decode_server_message('{"goAway":{}}') == [GoAway(0.0)]
    assert decode_server_message('{"goAway":{"timeLeft":7}}') == [GoAway(7.0)]


@pytest.mark.parametrize(
    "bad", ['"10"', '"-1s"', '"1.5ms"', '"abc"', '"1.1234567891s"', "true", "-3", '"s"', '"1.s"']
)
def test_bad_go_away_durations(bad: str) -> None:
    with pytest.raises(RemoteProtocolError, match=r"goAway\.timeLeft"):
        decode_server_message('{"goAway":{"timeLeft":' + bad + "}}")


def test_session_resumption_update() -> None:
    msg = '{"sessionResumptionUpdate":{"newHandle":"h-1","resumable":true}}'
    assert decode_server_message(msg) == [SessionResumptionUpdate("h-1", True, None)]
    assert decode_server_message('{"sessionResumptionUpdate":{}}') == [
        SessionResumptionUpdate("", False, None)
    ]
    transparent = (
        '{"sessionResumptionUpdate":{"newHandle":"h","resumable":true,'
        '"lastConsumedClientMessageIndex":"123"}}'
    )
    assert decode_server_message(transparent) == [SessionResumptionUpdate("h", True, 123)]


def test_usage_metadata_counts_and_raw() -> None:
    usage = {
        "promptTokenCount": 147,
        "responseTokenCount": "36",  # proto3 JSON may quote integers
        "totalTokenCount": 183,
        "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 80}],
    }
    [event] = decode_server_message(frame({"usageMetadata": usage}))
    assert event == UsageMetadata(147, 36, 183, usage)
    assert decode_server_message('{"usageMetadata":{}}') == [UsageMetadata(0, 0, 0, {})]


def test_empty_message_has_no_events() -> None:
    assert decode_server_message("{}") == []
    assert decode_server_message('{"serverContent":{}}') == []


# --------------------------------------------------------------------------------------------
# Several fields in one message


def test_multi_field_message_order_content_transcripts_generation_usage_turn() -> None:
    msg = {
        "usageMetadata": {"totalTokenCount": 9},
        "serverContent": {
            "turnComplete": True,
            "generationComplete": True,
            "outputTranscription": {"text": "bye", "finished": True},
            "inputTranscription": {"text": "ok"},
            "modelTurn": {"parts": [audio_part(b"\x00\x01")]},
        },
    }
    assert decode_server_message(frame(msg)) == [
        AudioChunk(b"\x00\x01"),
        InputTranscription("ok"),
        OutputTranscription("bye", True),
        GenerationComplete(),
        UsageMetadata(0, 0, 9, {"totalTokenCount": 9}),
        TurnComplete(),
    ]


def test_interrupted_comes_before_turn_complete_and_everything_else_follows() -> None:
    msg = {
        "goAway": {"timeLeft": "5s"},
        "sessionResumptionUpdate": {"newHandle": "h", "resumable": True},
        "toolCallCancellation": {"ids": ["x"]},
        "serverContent": {"turnComplete": True, "interrupted": True},
        "setupComplete": {},
    }
    assert [type(e) for e in decode_server_message(frame(msg))] == [
        SetupComplete,
        Interrupted,
        TurnComplete,
        ToolCallCancellation,
        SessionResumptionUpdate,
        GoAway,
    ]


# --------------------------------------------------------------------------------------------
# Liberal input


def test_binary_frames_and_other_buffers() -> None:
    raw = frame({"serverContent": {"modelTurn": {"parts": [audio_part(PCM)]}}})
    expected = [AudioChunk(PCM)]
    assert decode_server_message(raw.encode()) == expected
    assert decode_server_message(bytearray(raw.encode())) == expected
    assert decode_server_message(memoryview(raw.encode())) == expected


def test_pretty_printed_frame_with_trailing_newline() -> None:
    raw = json.dumps({"setupComplete": {"sessionId": "x"}}, indent=2) + "\n"
    assert decode_server_message(raw.encode()) == [SetupComplete("x")]


def test_snake_case_keys_everywhere() -> None:
    msg = {
        "server_content": {
            "model_turn": {
                "parts": [{"inline_data": {"mime_type": "audio/pcm", "data": b64(PCM)}}]
            },
            "output_transcription": {"text": "hi"},
            "generation_complete": True,
            "turn_complete": True,
            "turn_complete_reason": "NEED_MORE_INPUT",
        },
        "usage_metadata": {"total_token_count": 4, "prompt_token_count": 1},
        "session_resumption_update": {"new_handle": "h", "resumable": True},
        "go_away": {"time_left": "1s"},
    }
    assert decode_server_message(frame(msg)) == [
        AudioChunk(PCM),
        OutputTranscription("hi"),
        GenerationComplete(),
        UsageMetadata(1, 0, 4, {"total_token_count": 4, "prompt_token_count": 1}),
        TurnComplete("NEED_MORE_INPUT"),
        SessionResumptionUpdate("h", True),
        GoAway(1.0),
    ]
    call = '{"tool_call":{"function_calls":[{"id":"a","name":"n","args":{"k_v":1}}]}}'
    [event] = decode_server_message(call)
    assert isinstance(event, ToolCall)
    assert dict(event.calls[0].args) == {"k_v": 1}  # argument names are data, not fields
    assert decode_server_message('{"tool_call_cancellation":{"ids":["a"]}}') == [
        ToolCallCancellation(("a",))
    ]
    assert decode_server_message('{"setup_complete":{"session_id":"s"}}') == [SetupComplete("s")]


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda d: base64.b64encode(d).rstrip(b"="),
        lambda d: base64.urlsafe_b64encode(d).rstrip(b"="),
    ],
    ids=["standard", "urlsafe", "standard-unpadded", "urlsafe-unpadded"],
)
@pytest.mark.parametrize("data", [PCM, b"\xfb\xff", b"\xff\xfe\xfd\xfc", b""])
def test_both_base64_alphabets_with_or_without_padding(encode: object, data: bytes) -> None:
    text = encode(data).decode()  # type: ignore[operator]
    msg = {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": text}}]}}}
    assert decode_server_message(frame(msg)) == [AudioChunk(data)]


def test_null_means_absent() -> None:
    msg = {
        "setupComplete": None,
        "serverContent": {"turnComplete": None, "modelTurn": None, "interrupted": True},
        "goAway": None,
    }
    assert decode_server_message(frame(msg)) == [Interrupted()]


def test_unknown_fields_are_reported_with_their_paths() -> None:
    msg = {
        "serverContent": {
            "modelTurn": {"parts": [{"executableCode": {"code": "1"}}, {"text": "x", "extra": 1}]},
            "groundingMetadata": {"a": 1},
            "interrupted": True,
        },
        "setupComplete": {"voiceConsentSignature": "sig"},
        "toolCall": {"functionCalls": [{"id": "a", "name": "n", "willContinue": True}]},
        "voiceActivity": {"type": "ACTIVITY_START"},
        "brandNew": {},
    }
    events = decode_server_message(frame(msg))
    assert isinstance(events[-1], IgnoredFields)
    assert set(events[-1].paths) == {
        "serverContent.modelTurn.parts[0].executableCode",
        "serverContent.modelTurn.parts[1].extra",
        "serverContent.groundingMetadata",
        "setupComplete.voiceConsentSignature",
        "toolCall.functionCalls[0].willContinue",
        "voiceActivity",
        "brandNew",
    }
    assert [type(e) for e in events[:-1]] == [SetupComplete, TextPart, Interrupted, ToolCall]


def test_only_unknown_fields() -> None:
    assert decode_server_message('{"voiceActivityDetectionSignal":{"vadSignalType":"X"}}') == [
        IgnoredFields(("voiceActivityDetectionSignal",))
    ]


# --------------------------------------------------------------------------------------------
# Malformed frames


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("not json", "not JSON"),
        ("", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("[]", "not a JSON object but an array"),
        ('"setupComplete"', "not a JSON object but a string"),
        ("42", "not a JSON object but a number"),
        ("null", "not a JSON object but null"),
        ('{"setupComplete":[]}', "setupComplete must be an object"),
        ('{"setupComplete":{"sessionId":5}}', "setupComplete.sessionId must be a string"),
        ('{"serverContent":"x"}', "serverContent must be an object"),
        ('{"serverContent":{"turnComplete":"yes"}}', "serverContent.turnComplete must be true"),
        ('{"serverContent":{"turnComplete":"True"}}', "serverContent.turnComplete must be true"),
        ('{"serverContent":{"interrupted":1}}', "serverContent.interrupted must be true"),
        ('{"serverContent":{"modelTurn":{"parts":{}}}}', "serverContent.modelTurn.parts must be"),
        ('{"serverContent":{"modelTurn":{"parts":[3]}}}', r"parts\[0\] must be an object"),
        ('{"serverContent":{"modelTurn":{"parts":[{"text":1}]}}}', r"parts\[0\]\.text must be"),
        ('{"serverContent":{"outputTranscription":{"text":["a"]}}}', "outputTranscription.text"),
        ('{"serverContent":{"inputTranscription":{"finished":"no"}}}', "inputTranscription.fin"),
        ('{"toolCall":{"functionCalls":"x"}}', "toolCall.functionCalls must be an array"),
        ('{"toolCall":{"functionCalls":[{"name":"n"}]}}', "no id or no name"),
        ('{"toolCall":{"functionCalls":[{"id":"a"}]}}', "no id or no name"),
        ('{"toolCall":{"functionCalls":[{"id":"a","name":"n","args":[]}]}}', r"args must be an"),
        ('{"toolCall":{"functionCalls":[{"id":7,"name":"n"}]}}', r"\.id must be a string"),
        ('{"toolCallCancellation":{"ids":"a"}}', "ids must be an array"),
        ('{"toolCallCancellation":{"ids":[1]}}', r"ids\[0\] must be a string"),
        ('{"sessionResumptionUpdate":{"resumable":"yes"}}', "resumable must be true or false"),
        ('{"sessionResumptionUpdate":{"newHandle":1}}', "newHandle must be a string"),
        (
            '{"sessionResumptionUpdate":{"lastConsumedClientMessageIndex":"x"}}',
            "lastConsumedClientMessageIndex must be an integer",
        ),
        ('{"usageMetadata":{"totalTokenCount":"many"}}', "totalTokenCount must be an integer"),
        ('{"usageMetadata":{"totalTokenCount":1.5}}', "totalTokenCount must be an integer"),
        ('{"usageMetadata":{"totalTokenCount":true}}', "totalTokenCount must be an integer"),
        ('{"goAway":[]}', "goAway must be an object"),
        ('{"turnComplete":1,"turn_complete":2}', "turnComplete is given twice"),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"!!!!"}}]}}}',
            "inlineData.data is not valid base64",
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"QUJD="}}]}}}',
            "inlineData.data is not valid base64",
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"A"}}]}}}',
            "inlineData.data is not valid base64",
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"QUJD"}}]}}}',
            "odd number",  # "ABC": 3 bytes is half a sample short
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
            '{"data":"AAAA","mimeType":"audio/wav"}}]}}}',
            "'audio/wav', not raw PCM",
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
            '{"data":"AAAA","mimeType":"image/png"}}]}}}',
            "not raw PCM",
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
            '{"data":"AAAA","mimeType":"audio/pcm;rate=fast"}}]}}}',
            "invalid rate",
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
            '{"data":"AAAA","mimeType":"audio/pcm;rate=0"}}]}}}',
            "invalid rate",
        ),
        (  # a speaker cannot take it (ports.SINK_RATE_RANGE): refused here, not in playback
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
            '{"data":"AAAA","mimeType":"audio/pcm;rate=1"}}]}}}',
            "rate 1 Hz, outside the 8000-192000 Hz",
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
            '{"data":"AAAA","mimeType":"audio/pcm;rate=384000"}}]}}}',
            "rate 384000 Hz, outside",
        ),
    ],
)
def test_malformed_frames_raise_remote_protocol_error(raw: str | bytes, needle: str) -> None:
    with pytest.raises(RemoteProtocolError, match=needle) as info:
        decode_server_message(raw)
    message = str(info.value)
    assert "\n" not in message
    assert len(message) < 250


def test_error_messages_never_carry_a_huge_payload() -> None:
    huge = "x" * 1_000_000
    for raw in (huge, '{"serverContent":{"modelTurn":{"parts":[{"text":' + "1" * 100_000 + "}]}}}"):
        with pytest.raises(RemoteProtocolError) as info:
            decode_server_message(raw)
        assert len(str(info.value)) < 250, str(info.value)[:300]
    bad_b64 = '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"' + "!" * 500_000
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_message(bad_b64 + '"}}]}}}')
    assert "500000 characters" in str(info.value)
    assert len(str(info.value)) < 250
    nested = {"serverContent": {"modelTurn": {"parts": [{"text": {"big": "y" * 100_000}}]}}}
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_message(frame(nested))
    assert "yyyy" not in str(info.value)


def test_remote_protocol_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_server_message("{")
