"""The oracle: the official SDK (google-genai 3.6.1) against the simulator, over TLS.

The SDK's own live client must complete real sessions (setup, audio both ways, transcripts, a
tool call, resumption, ephemeral tokens, errors surfacing with the right code), and every frame
the simulator sends must validate against the SDK's strict pydantic types (protocol doc
section 8). When the SDK and the simulator disagree, the simulator is wrong.
"""

from __future__ import annotations

import json
import ssl
import warnings
from pathlib import Path
from typing import Any

import pytest
from simkit import (
    GET_TIME_TOOL,
    MODEL_31,
    MODEL_38,
    Client,
    get_time_tool,
    session,
    setup,
    silence,
    tone,
)

from edgevoice.sim import Fault, SimOptions, Simulator

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
PCM_MIME = "audio/pcm;rate=16000"


@pytest.fixture
def tls(tls_files: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting the test certificate)."""
    cert, key = tls_files
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


def sdk(sim: Simulator, client_ssl: ssl.SSLContext, **kw: Any) -> Any:
    http_options = {
        # A trailing slash like the SDK's default base URL, so the path starts "//ws/".
        "base_url": f"https://127.0.0.1:{sim.port}/",
        "api_version": kw.pop("api_version", "v1beta"),
        "async_client_args": {"ssl": client_ssl},
    }
    return genai.Client(api_key=kw.pop("api_key", "k"), http_options=http_options)


def manual_config(**extra: Any) -> types.LiveConnectConfig:
    return types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(disabled=True)
        ),
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Puck")
            )
        ),
        system_instruction="You are a parrot.",
        **extra,
    )


async def ask(live: Any, pcm: bytes) -> None:
    await live.send_realtime_input(activity_start=types.ActivityStart())
    for start in range(0, len(pcm), 3200):
        await live.send_realtime_input(
            audio=types.Blob(data=pcm[start : start + 3200], mime_type=PCM_MIME)
        )
    await live.send_realtime_input(activity_end=types.ActivityEnd())


class Turn:
    def __init__(self) -> None:
        self.audio = b""
        self.output = ""
        self.input = ""
        self.handles: list[str] = []
        self.tool_calls: list[Any] = []
        self.generation_complete = False

    def take(self, message: Any) -> None:
        if message.data:
            self.audio += message.data
        content = message.server_content
        if content is not None:
            if content.output_transcription and content.output_transcription.text:
                self.output += content.output_transcription.text
            if content.input_transcription and content.input_transcription.text:
                self.input += content.input_transcription.text
            self.generation_complete |= bool(content.generation_complete)
        update = message.session_resumption_update
        if update is not None and update.resumable and update.new_handle:
            self.handles.append(update.new_handle)
        if message.tool_call is not None:
            self.tool_calls.extend(message.tool_call.function_calls or [])


async def receive_turn(live: Any, tool_result: dict[str, Any] | None = None) -> Turn:
    """One receive() pass (the SDK stops it at turnComplete); answers tool calls on the way."""
    turn = Turn()
    async for message in live.receive():
        turn.take(message)
        if message.tool_call is not None and tool_result is not None:
            await live.send_tool_response(
                function_responses=[
                    types.FunctionResponse(id=call.id, name=call.name, response=tool_result)
                    for call in message.tool_call.function_calls
                ]
            )
    return turn


async def next_handle(live: Any) -> str:
    async for message in live.receive():
        update = message.session_resumption_update
        if update is not None and update.resumable:
            return str(update.new_handle)
    raise AssertionError("no resumable sessionResumptionUpdate")


async def test_sdk_completes_turns_a_tool_call_and_resumes(
    sim_factory: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ssl, client_ssl = tls
    options = SimOptions(pace=0, tool_call_every=2)
    tools = [
        types.Tool(
            function_declarations=[
                types.FunctionDeclaration(
                    name="get_time",
                    description="The current time.",
                    parameters=types.Schema(
                        type="OBJECT", properties={"tz": types.Schema(type="STRING")}
                    ),
                )
            ]
        )
    ]
    async with sim_factory(options, ssl_context=server_ssl) as sim:
        assert sim.url.startswith("wss://")
        client = sdk(sim, client_ssl)
        config = manual_config(session_resumption=types.SessionResumptionConfig(), tools=tools)
        async with client.aio.live.connect(model=MODEL, config=config) as live:
            await ask(live, tone(1.0))
            first = await receive_turn(live)
            await ask(live, tone(0.5))
            second = await receive_turn(live, tool_result={"time": "12:00"})
            handle = await next_handle(live)
        assert abs(len(first.audio) / 2 / 24_000 - 1.0 / 1.15) < 0.01
        assert first.output == "Parrot turn 1: I heard 1.0 s of audio."
        assert first.input.startswith("(synthetic) heard 1.0 s")
        assert first.generation_complete
        assert [c.name for c in second.tool_calls] == ["get_time"]
        assert second.output.endswith('get_time returned {"time": "12:00"}.')
        assert second.handles  # turn 1's resumable handle arrived at the start of this pass

        await sim.wait_closed(1)
        resume = manual_config(session_resumption=types.SessionResumptionConfig(handle=handle))
        async with client.aio.live.connect(model=MODEL, config=resume) as live:
            await ask(live, tone(0.3))
            third = await receive_turn(live)
        assert third.output.startswith("Parrot turn 3:")

    first_record = sim.connections[0]
    assert first_record.path.startswith("//ws/")  # the SDK's double slash (section 1.3)
    assert first_record.auth_source == "header"
    assert first_record.received[0].is_text
    assert str(first_record.header("user-agent")).startswith("google-genai-sdk/")
    assert sim.connections[1].resumed


async def test_sdk_with_automatic_vad_and_audio_stream_end(
    sim_factory: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ssl, client_ssl = tls
    async with sim_factory(ssl_context=server_ssl) as sim:
        config = types.LiveConnectConfig(
            response_modalities=["AUDIO"], output_audio_transcription={}
        )
        async with sdk(sim, client_ssl).aio.live.connect(model=MODEL, config=config) as live:
            await live.send_realtime_input(
                audio=types.Blob(data=tone(0.6) + silence(0.2), mime_type=PCM_MIME)
            )
            await live.send_realtime_input(audio_stream_end=True)
            turn = await receive_turn(live)
    assert turn.audio and turn.output.startswith("Parrot turn 1: I heard 0.8 s")


async def test_sdk_ephemeral_token_on_v1alpha_constrained(
    sim_factory: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ssl, client_ssl = tls
    token = "auth_tokens/oracle-token"
    options = SimOptions(pace=0, tokens=frozenset({token}))
    async with sim_factory(options, ssl_context=server_ssl) as sim:
        client = sdk(sim, client_ssl, api_key=token, api_version="v1alpha")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK's ExperimentalWarning about tokens
            async with client.aio.live.connect(model=MODEL, config=manual_config()) as live:
                await ask(live, tone(0.3))
                turn = await receive_turn(live)
    assert turn.audio
    record = sim.connections[0]
    assert record.method == "BidiGenerateContentConstrained" and record.auth_source == "header"


@pytest.mark.parametrize(
    ("model", "config", "code"),
    [
        ("gemini-2.0-flash-live-001", {"response_modalities": ["AUDIO"]}, 1008),
        (MODEL, {"response_modalities": ["TEXT"]}, 1007),
        (MODEL, {"response_modalities": ["AUDIO"], "proactivity": {"proactive_audio": True}}, 1007),
    ],
)
async def test_sdk_surfaces_refusals_as_api_error_with_the_close_code(
    sim_factory: Any,
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
    model: str,
    config: dict[str, Any],
    code: int,
) -> None:
    server_ssl, client_ssl = tls
    async with sim_factory(ssl_context=server_ssl) as sim:
        with pytest.raises(errors.APIError) as caught:
            async with sdk(sim, client_ssl).aio.live.connect(model=model, config=config) as live:
                await live.receive().__anext__()
    assert caught.value.code == code


async def test_sdk_bad_key_is_1007(
    sim_factory: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ssl, client_ssl = tls
    async with sim_factory(
        SimOptions(pace=0, api_keys=frozenset({"right"})), ssl_context=server_ssl
    ) as sim:
        with pytest.raises(errors.APIError) as caught:
            async with sdk(sim, client_ssl, api_key="wrong").aio.live.connect(
                model=MODEL, config={"response_modalities": ["AUDIO"]}
            ):
                pass
    assert caught.value.code == 1007
    assert "API key not valid" in str(caught.value)


# --- every frame the simulator sends validates against LiveServerMessage -------------------


def validate_server_frame(raw: str | bytes) -> Any:
    """The SDK's strict type (extra fields forbidden); unknown enum values fail too."""
    message = json.loads(raw)
    if "voiceActivity" in message:  # the wire name differs from the type's (section 8)
        message["voiceActivity"] = {"voice_activity_type": message["voiceActivity"]["type"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return types.LiveServerMessage.model_validate_json(json.dumps(message))


async def ask_raw(c: Client) -> None:
    await c.send({"realtimeInput": {"activityStart": {}}})
    await c.send_audio(tone(0.3))
    await c.send({"realtimeInput": {"activityEnd": {}}})


async def drive_everything(sim: Simulator) -> None:
    """Scenarios that make the simulator send every message type it knows."""
    # Connection 1 (3.1, automatic VAD): the goAway fault fires after its first turn.
    async with session(sim, setup(MODEL_31, manual=False)) as c:
        await c.send_audio(tone(0.3) + silence(1.0))
        await c.turn()
        late = await c.recv_until(lambda m: "goAway" in m)  # after the late transcript piece
        assert late[-1] == {"goAway": {"timeLeft": "0.050s"}}
        assert (await c.closed())[0] == 1011
    # Connection 2 (3.8, manual): answers, a blocking call, new input cancelling it.
    frame = setup(MODEL_38, resumption={}, tools=get_time_tool("BLOCKING"))
    async with session(sim, frame) as c:
        await ask_raw(c)
        await c.turn()  # turn 2 (tool calls come on even turns)
        await ask_raw(c)
        await c.recv_until(lambda m: "toolCall" in m)
        await c.send({"realtimeInput": {"activityStart": {}}})  # barge-in: cancellation
        await c.recv_until(lambda m: "toolCallCancellation" in m)
        await c.send_audio(tone(0.2))
        await c.send({"realtimeInput": {"activityEnd": {}}})
        await c.turn()  # turn 4
        await ask_raw(c)
        calls = (await c.recv_until(lambda m: "toolCall" in m))[-1]["toolCall"]["functionCalls"]
        response = {"id": calls[0]["id"], "name": "get_time", "response": {"t": 1}}
        await c.send({"toolResponse": {"functionResponses": [response]}})
        await c.turn()
        await c.recv()  # the resumable update
    # Connection 3 (3.8, non-blocking by default): IN_PROGRESS, then the result, IDLE.
    async with session(sim, setup(MODEL_38, tools=GET_TIME_TOOL)) as c:
        await ask_raw(c)
        await c.turn()
        await ask_raw(c)
        calls = (await c.recv_until(lambda m: "toolCall" in m))[-1]["toolCall"]["functionCalls"]
        await c.turn()
        response = {"id": calls[0]["id"], "name": "get_time", "response": {"t": 2}}
        await c.send({"toolResponse": {"functionResponses": [response]}})
        await c.turn()


async def test_every_frame_the_simulator_sends_validates_as_live_server_message(
    sim_factory: Any,
) -> None:
    options = SimOptions(
        pace=0,
        tool_call_every=2,
        session_id=True,
        late_transcription=True,
        faults=(Fault.parse("goaway=0.05@turn:1"),),
    )
    async with sim_factory(options) as sim:
        await drive_everything(sim)
    sent = [frame for record in sim.connections for frame in record.sent]
    seen: set[str] = set()
    for frame in sent:
        message = validate_server_frame(frame.raw)
        seen.update(message.model_dump(exclude_none=True))
    assert {
        "setup_complete",
        "server_content",
        "tool_call",
        "tool_call_cancellation",
        "usage_metadata",
        "go_away",
        "session_resumption_update",
    } <= seen
    first = validate_server_frame(sent[0].raw)
    assert first.setup_complete is not None and first.setup_complete.session_id


def test_the_oracle_can_fail() -> None:
    with pytest.raises(Exception, match=r"[Ee]xtra"):
        validate_server_frame(b'{"simulatorUnknownMessage": {"note": "x"}}')
    with pytest.raises(Exception, match=r"[Ee]xtra"):
        validate_server_frame(b'{"serverContent": {"turnComplete": true, "done": true}}')


# --- gemini-3.8-live through the SDK (issue 8: "on gemini-3.8-live and on a 2.5 model") ----

MODEL_38_ID = "gemini-3.8-live"


def get_time_declaration(behavior: Any = None) -> list[types.Tool]:
    return [
        types.Tool(
            function_declarations=[
                types.FunctionDeclaration(
                    name="get_time", description="The current time.", behavior=behavior
                )
            ]
        )
    ]


async def test_sdk_on_38_turns_a_non_blocking_call_and_a_resume(
    sim_factory: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ssl, client_ssl = tls
    options = SimOptions(pace=0, tool_call_every=2)
    async with sim_factory(options, ssl_context=server_ssl) as sim:
        client = sdk(sim, client_ssl)
        config = manual_config(
            session_resumption=types.SessionResumptionConfig(), tools=get_time_declaration()
        )
        async with client.aio.live.connect(model=MODEL_38_ID, config=config) as live:
            await ask(live, tone(1.0))
            first = await receive_turn(live)
            await ask(live, tone(0.5))
            # NON_BLOCKING by default on 3.8: the answer does not wait; the SDK's receive() goes
            # on past the IN_PROGRESS turnComplete until interactionStatus IDLE.
            calls: list[Any] = []
            heard = Turn()
            answered = False
            async for message in live.receive():
                heard.take(message)
                if message.tool_call is not None:
                    calls.extend(message.tool_call.function_calls or [])
                content = message.server_content
                if content is not None and content.turn_complete and calls and not answered:
                    await live.send_tool_response(
                        function_responses=[
                            types.FunctionResponse(
                                id=calls[0].id,
                                name="get_time",
                                response={"time": "12:00"},
                                scheduling=types.FunctionResponseScheduling.WHEN_IDLE,
                            )
                        ]
                    )
                    answered = True
            handle = await next_handle(live)
        assert first.output == "Parrot turn 1: I heard 1.0 s of audio."
        assert [c.name for c in calls] == ["get_time"]
        assert heard.output.endswith('Parrot: get_time returned {"time": "12:00"}.')
        await sim.wait_closed(1)
        resume = manual_config(
            session_resumption=types.SessionResumptionConfig(handle=handle),
            tools=get_time_declaration(),
        )
        async with client.aio.live.connect(model=MODEL_38_ID, config=resume) as live:
            await ask(live, tone(0.3))
            third = await receive_turn(live)
        assert third.output.startswith("Parrot turn 3:")
    assert sim.connections[1].resumed
    statuses = [
        m["serverContent"].get("interactionStatus")
        for m in sim.connections[0].sent_messages("serverContent")
        if m["serverContent"].get("turnComplete")
    ]
    assert statuses == ["IDLE", "IN_PROGRESS", "IDLE"]


async def test_sdk_on_38_blocking_declared_and_extended_thinking(
    sim_factory: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ssl, client_ssl = tls
    async with sim_factory(SimOptions(pace=0, tool_call_every=1), ssl_context=server_ssl) as sim:
        client = sdk(sim, client_ssl)
        config = manual_config(tools=get_time_declaration(types.Behavior.BLOCKING))
        async with client.aio.live.connect(model=MODEL_38_ID, config=config) as live:
            await ask(live, tone(0.4))
            turn = await receive_turn(live, tool_result={"time": "09:30"})
        assert turn.output.endswith('get_time returned {"time": "09:30"}.')
        thinking = manual_config(
            thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW)
        )
        async with client.aio.live.connect(
            model="gemini-3.8-live-extended-thinking", config=thinking
        ) as live:
            await ask(live, tone(0.2))
            assert (await receive_turn(live)).audio
    declared = sim.connections[0].setup
    assert declared is not None
    assert declared["tools"][0]["functionDeclarations"][0]["behavior"] == "BLOCKING"
    assert sim.connections[1].setup["generationConfig"]["thinkingConfig"] == {  # type: ignore[index]
        "thinkingLevel": "LOW"
    }


async def test_sdk_on_38_refusals(
    sim_factory: Any, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ssl, client_ssl = tls
    refused = [
        (MODEL_38_ID, {"thinking_config": {"thinking_budget": 0}}),
        (MODEL_38_ID, {"proactivity": {"proactive_audio": False}}),
        ("gemini-3.8-live-extended-thinking", {}),
    ]
    async with sim_factory(ssl_context=server_ssl) as sim:
        for model, extra in refused:
            config = {"response_modalities": ["AUDIO"], **extra}
            with pytest.raises(errors.APIError) as caught:
                async with sdk(sim, client_ssl).aio.live.connect(
                    model=model, config=config
                ) as live:
                    await live.receive().__anext__()
            assert caught.value.code == 1007
