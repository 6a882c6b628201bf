"""The official SDK (google-genai, pinned, test-only) as an oracle for the server side: the SDK's
own server message objects, dumped the way the SDK dumps them (camelCase and snake_case, URL-safe
base64), decode to the events they describe; the hand-written fixtures are frames the SDK reads.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevoice.live.decode import decode_server_message
from edgevoice.live.events import (
    AudioChunk,
    GenerationComplete,
    GoAway,
    InputTranscription,
    InteractionUpdate,
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
            "turn-complete-in-progress",
            types.LiveServerMessage(
                server_content=types.LiveServerContent(
                    turn_complete=True, interaction_status=types.InteractionStatus.IN_PROGRESS
                )
            ),
            [TurnComplete(None, "IN_PROGRESS")],
        ),
        (
            "interaction-idle",
            types.LiveServerMessage(
                server_content=types.LiveServerContent(
                    interaction_status=types.InteractionStatus.IDLE
                )
            ),
            [InteractionUpdate("IDLE")],
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
