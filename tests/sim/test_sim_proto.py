"""The simulator's proto3-JSON parser and setup rules, frame by frame (no network).

Every refusal is checked with its exact close code and reason text, since clients key their
retry policy on them (protocol doc section 6.4).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from simkit import OBSERVED_SDK_SETUP

from edgevoice.sim.models import KNOWN_MODELS, Family
from edgevoice.sim.proto import FrameRejected, ParseContext, parse_client_frame
from edgevoice.sim.reasons import cut_reason, model_not_found
from edgevoice.sim.rules import check_realtime_input, check_setup

V1BETA = ParseContext("v1beta")
V1ALPHA = ParseContext("v1alpha")
CONSTRAINED = ParseContext("v1alpha", constrained=True)

MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
MODEL_31 = "models/gemini-3.1-flash-live-preview"


def reject(frame: Any, ctx: ParseContext = V1BETA) -> tuple[int, str]:
    raw = frame if isinstance(frame, (str, bytes)) else json.dumps(frame)
    with pytest.raises(FrameRejected) as caught:
        parse_client_frame(raw, ctx)
    return caught.value.close.code, caught.value.close.wire_reason


def unknown(name: str, at: str) -> str:
    return f"Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."


def test_observed_sdk_setup_frame_is_accepted_and_read_in_both_spellings() -> None:
    frame = parse_client_frame(OBSERVED_SDK_SETUP, V1ALPHA)
    assert frame.kind == "setup"
    body = frame.body
    assert body["generationConfig"]["speechConfig"] == {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}},
        "languageCode": "en-US",
    }
    detection = body["realtimeInputConfig"]["automaticActivityDetection"]
    assert detection["disabled"] is True and detection["silenceDurationMs"] == 500
    assert body["contextWindowCompression"] == {
        "triggerTokens": 25600,
        "slidingWindow": {"targetTokens": 12800},
    }
    info = check_setup(body, V1ALPHA, KNOWN_MODELS)
    assert info.auto_vad is False and info.interrupts is False
    assert info.handle == "prev-handle"
    assert info.functions == {"get_time": False}  # declared NON_BLOCKING: the call does not block


def at_setup(**fields: Any) -> dict[str, Any]:
    return {"setup": {"model": MODEL, **fields}}


TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta."
SCHEMA_WITH_EXTRA = {
    "type": "OBJECT",
    "properties": {"a": {"type": "STRING", "additionalProperties": False}},
}


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (
            {"config": {"model": MODEL}},
            'Invalid JSON payload received. Unknown name "config": Cannot find field.',
        ),
        (at_setup(responseModalities=["AUDIO"]), unknown("responseModalities", "setup")),
        (
            at_setup(generationConfig={"voice": "Kore"}),
            unknown("voice", "setup.generation_config"),
        ),
        (
            at_setup(generation_config={"speech_config": {"voiceConfig": {"name": "x"}}}),
            unknown("name", "setup.generation_config.speech_config.voice_config"),
        ),
        (
            at_setup(
                tools=[{"functionDeclarations": [{"name": "f", "parameters": SCHEMA_WITH_EXTRA}]}]
            ),
            unknown(
                "additionalProperties",
                "setup.tools[0].function_declarations[0].parameters.properties[0].value",
            ),
        ),
        (
            {"realtimeInput": {"audio": {"data": "", "mimeType": "audio/pcm", "rate": 16000}}},
            unknown("rate", "realtime_input.audio"),
        ),
        (
            {"toolResponse": {"functionResponses": [{"id": "a", "name": "f", "result": {}}]}},
            unknown("result", "tool_response.function_responses[0]"),
        ),
        (
            at_setup(sessionResumption={"transparent": True}),
            unknown("transparent", "setup.session_resumption"),
        ),
        (at_setup(explicitVadSignal=True), unknown("explicitVadSignal", "setup")),
        (
            {"contextUpdate": {}},
            'Invalid JSON payload received. Unknown name "contextUpdate": Cannot find field.',
        ),
    ],
)
def test_unknown_names_are_refused_with_the_service_text_and_dotted_path(
    frame: dict[str, Any], reason: str
) -> None:
    assert reject(frame) == (1007, cut_reason(reason))


def test_proactivity_is_gated_by_endpoint_and_model() -> None:
    frame = {"setup": {"model": MODEL, "proactivity": {"proactiveAudio": True}}}
    assert parse_client_frame(json.dumps(frame), V1ALPHA).body["proactivity"] == {
        "proactiveAudio": True
    }
    refused = (1007, unknown("proactivity", "setup"))
    assert reject(frame, V1BETA) == refused
    assert reject(frame, CONSTRAINED) == refused
    frame["setup"]["model"] = MODEL_31
    assert reject(frame, V1ALPHA) == refused


def test_affective_dialog_exists_on_25_v1alpha_only() -> None:
    # Section 2.2 and 9: 2.5 native audio on v1alpha; gone on 3.1 and 3.8 (models.py).
    frame = {"setup": {"model": MODEL, "generationConfig": {"enableAffectiveDialog": True}}}
    parse_client_frame(json.dumps(frame), V1ALPHA)
    parse_client_frame(json.dumps(frame), CONSTRAINED)
    refused = (1007, unknown("enableAffectiveDialog", "setup.generation_config"))
    assert reject(frame, V1BETA) == refused
    for model in (MODEL_31, "models/gemini-3.8-live", "models/gemini-3.8-live-extended-thinking"):
        frame["setup"]["model"] = model
        assert reject(frame, V1ALPHA) == refused


def test_snake_case_and_camel_case_are_the_same_field_at_every_depth() -> None:
    snake = {
        "realtime_input": {"media_chunks": [{"mime_type": "audio/pcm;rate=16000", "data": "AAA="}]}
    }
    camel = {
        "realtimeInput": {"mediaChunks": [{"mimeType": "audio/pcm;rate=16000", "data": "AAA="}]}
    }
    a = parse_client_frame(json.dumps(snake), V1BETA)
    b = parse_client_frame(json.dumps(camel), V1BETA)
    assert a == b
    assert a.body == {"mediaChunks": [{"mimeType": "audio/pcm;rate=16000", "data": b"\x00\x00"}]}


def test_both_spellings_of_one_field_in_one_object_are_refused() -> None:
    frame = {"setup": {"model": MODEL, "generationConfig": {}, "generation_config": {}}}
    assert reject(frame) == (1007, "Request contains an invalid argument.")


def test_base64_both_alphabets_with_and_without_padding() -> None:
    pcm = bytes([0xFB, 0xFF, 0xFE, 0x01])
    for data in ("+//+AQ==", "-__-AQ==", "-__-AQ"):
        frame = {"realtimeInput": {"audio": {"data": data, "mimeType": "audio/pcm;rate=16000"}}}
        assert parse_client_frame(json.dumps(frame), V1BETA).body["audio"]["data"] == pcm


def test_bad_base64_is_refused() -> None:
    frame = {"realtimeInput": {"audio": {"data": "ab$d", "mimeType": "audio/pcm;rate=16000"}}}
    assert reject(frame) == (
        1007,
        "Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), "
        'Base64 decoding failed for "ab$d"',
    )


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ({"setup": {"model": 5}}, "Invalid value at 'setup.model' (TYPE_STRING), 5"),
        (
            at_setup(generationConfig={"topK": "x"}),
            "Invalid value at 'setup.generation_config.top_k' (TYPE_INT32), \"x\"",
        ),
        (
            at_setup(generationConfig={"topK": 1.5}),
            "Invalid value at 'setup.generation_config.top_k' (TYPE_INT32), 1.5",
        ),
        (
            at_setup(generationConfig={"temperature": True}),
            "Invalid value at 'setup.generation_config.temperature' (TYPE_FLOAT), true",
        ),
        (
            {"realtimeInput": {"audioStreamEnd": "true"}},
            "Invalid value at 'realtime_input.audio_stream_end' (TYPE_BOOL), \"true\"",
        ),
        (
            {"setup": "x"},
            f"Invalid value at 'setup' ({TYPE}BidiGenerateContentSetup), \"x\"",
        ),
        (at_setup(tools={}), f"Invalid value at 'setup.tools' ({TYPE}Tool), {{}}"),
        (
            at_setup(systemInstruction=[{"text": "x"}]),
            "Invalid JSON payload received. Unknown name \"systemInstruction\" at 'setup': "
            "Proto field is not repeating, cannot start list.",
        ),
        (
            at_setup(generationConfig={"responseModalities": ["VIDEO"]}),
            "Invalid value at 'setup.generation_config.response_modalities[0]' "
            f'({TYPE}GenerationConfig.Modality), "VIDEO"',
        ),
        (
            at_setup(realtimeInputConfig={"activityHandling": "interrupt"}),
            "Invalid value at 'setup.realtime_input_config.activity_handling' "
            f'({TYPE}RealtimeInputConfig.ActivityHandling), "interrupt"',
        ),
    ],
)
def test_wrong_json_types_and_unknown_enum_values_are_refused(
    frame: dict[str, Any], reason: str
) -> None:
    assert reject(frame) == (1007, cut_reason(reason))


def test_proto3_json_number_forms_and_null() -> None:
    frame = {
        "setup": {
            "model": MODEL,
            "generationConfig": {"topK": "40", "temperature": "0.5", "seed": 7.0, "topP": None},
            "contextWindowCompression": {"triggerTokens": "25600"},
            "realtimeInputConfig": {"activityHandling": 2},
        }
    }
    body = parse_client_frame(json.dumps(frame), V1BETA).body
    assert body["generationConfig"] == {"topK": 40, "temperature": 0.5, "seed": 7}
    assert body["contextWindowCompression"] == {"triggerTokens": 25600}
    assert body["realtimeInputConfig"] == {"activityHandling": "NO_INTERRUPTION"}


@pytest.mark.parametrize(
    "raw",
    [
        '{"setup": {}, "realtimeInput": {"text": "hi"}}',
        '{"realtime_input": {"text": "a"}, "realtimeInput": {"text": "b"}}',
        "{}",
        '{"setup": null}',
        '{"setup": {}, "setup": {}}',
    ],
)
def test_exactly_one_top_level_message_type(raw: str) -> None:
    assert reject(raw) == (1007, "Request contains an invalid argument.")


def test_a_frame_that_is_not_a_json_object_is_refused() -> None:
    assert reject('{"setup": ')[0] == 1007
    assert reject("[1, 2]")[0] == 1007
    assert reject(b"\xff\xfe")[0] == 1007


def test_every_reason_is_cut_to_123_bytes() -> None:
    long_name = "x" * 200
    code, reason = reject({"setup": {"model": MODEL, long_name: 1}})
    assert code == 1007 and len(reason.encode()) == 123
    assert reason == unknown(long_name, "setup")[:123]
    assert len(cut_reason("é" * 100).encode()) <= 123  # never splits a character


def test_unknown_model_reason_is_the_service_text_cut_at_123_bytes() -> None:
    body = parse_client_frame(
        json.dumps(
            {"setup": {"model": "models/gemini-2.0-flash-live-001", "generationConfig": {}}}
        ),
        V1BETA,
    ).body
    with pytest.raises(FrameRejected) as caught:
        check_setup(body, V1BETA, KNOWN_MODELS)
    close = caught.value.close
    assert close.code == 1008
    assert close.wire_reason == (
        "models/gemini-2.0-flash-live-001 is not found for API version v1beta, or is not "
        "supported for bidiGenerateContent. Call Lis"
    )  # the 123-byte cut, like the reported "... Call ListMo" for a shorter model name
    assert close.wire_reason == model_not_found("models/gemini-2.0-flash-live-001", "v1beta")[:123]


@pytest.mark.parametrize(
    ("generation", "code", "reason"),
    [
        ({}, 1007, "Cannot extract voices from a non-audio request."),
        ({"responseModalities": ["TEXT"]}, 1007, "Cannot extract voices from a non-audio request."),
        ({"responseModalities": ["AUDIO", "TEXT"]}, 1007, "Request contains an invalid argument."),
        (
            {"responseModalities": ["AUDIO"], "thinkingConfig": {"thinkingLevel": "LOW"}},
            1007,
            "Thinking level is not supported for this model",
        ),
    ],
)
def test_setup_rules_for_native_audio_models(
    generation: dict[str, Any], code: int, reason: str
) -> None:
    body = {"model": MODEL, "generationConfig": generation}
    with pytest.raises(FrameRejected) as caught:
        check_setup(body, V1BETA, KNOWN_MODELS)
    assert (caught.value.close.code, caught.value.close.wire_reason) == (code, reason)


def test_thinking_level_is_fine_on_31() -> None:
    body = {
        "model": MODEL_31,
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "thinkingConfig": {"thinkingLevel": "LOW"},
        },
    }
    assert check_setup(body, V1BETA, KNOWN_MODELS).family is Family.LIVE_31


@pytest.mark.parametrize(
    "body",
    [
        {"text": "a", "audioStreamEnd": True},
        {},
        {"audio": {"data": b"\x00\x00", "mimeType": "audio/pcm;rate=1"}},
        {"audio": {"data": b"\x00\x00", "mimeType": "audio/pcm;rate=96000"}},
        {"audio": {"data": b"\x00\x00", "mimeType": "audio/pcm;rate=16000;x=1"}},
        {"audio": {"data": b"\x00\x00", "mimeType": "audio/wav;rate=16000"}},
        {"audio": {"data": b"\x00\x00\x00", "mimeType": "audio/pcm;rate=16000"}},
        {"audio": {"data": b"", "mimeType": "image/jpeg"}},
    ],
)
def test_realtime_input_carries_exactly_one_valid_thing(body: dict[str, Any]) -> None:
    with pytest.raises(FrameRejected) as caught:
        check_realtime_input(body)
    assert caught.value.close.code == 1007


def test_realtime_input_audio_at_any_rate() -> None:
    item = check_realtime_input(
        {"audio": {"data": b"\x01\x00", "mimeType": "audio/pcm;rate=44100"}}
    )
    assert item == type(item)(b"\x01\x00", 44100)
