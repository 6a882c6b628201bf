"""LiveConnection against the simulator: turns both ways, credentials on the wire, tools,
barge-in, unknown messages, keepalive and sending after a close."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any

import pytest
from wskit import (
    KEY,
    MODEL,
    SERVER_VAD,
    TIMEOUT,
    TOKEN,
    Reader,
    assert_class,
    endpoint,
    make_setup,
    manual_turn,
    of_type,
    open_connection,
    send_pcm,
    silence,
    token,
    tone,
    transcript,
)

from edgevoice.errors import ErrorClass, LocalProtocolError, SessionClosedError
from edgevoice.live.events import (
    AudioChunk,
    GenerationComplete,
    InputTranscription,
    Interrupted,
    SessionResumptionUpdate,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UsageMetadata,
)
from edgevoice.live.models import Behavior
from edgevoice.live.states import ModelTurn
from edgevoice.live.tools import ToolContext, declarations_for, run_local_tool
from edgevoice.sim import Fault, SimOptions

SimFactory = Callable[..., Any]


@pytest.mark.parametrize("text_frames", [False, True], ids=["binary", "text"])
async def test_manual_turn_round_trip(sim_factory: SimFactory, text_frames: bool) -> None:
    async with sim_factory(
        SimOptions(pace=0, api_keys=frozenset({KEY}), text_frames=text_frames)
    ) as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.6))
        events = await reader.turn()
        await conn.close()
        closed = await sim.wait_closed(1, timeout_s=TIMEOUT)

    # What came back: the parrot's audio (24 kHz), both transcripts, the end of the turn.
    audio = b"".join(e.pcm for e in of_type(events, AudioChunk))
    assert audio and all(e.rate == 24_000 for e in of_type(events, AudioChunk))
    assert of_type(events, InputTranscription)[0].text == "(synthetic) heard 0.6 s of audio"
    assert transcript(events).startswith("Parrot turn 1:")
    assert of_type(events, GenerationComplete) and of_type(events, UsageMetadata)
    assert isinstance(events[-1], TurnComplete)
    assert conn.session.turns_completed == 1

    record = sim.connections[0]
    # The server really sent the frame type under test (binary is the real service's choice).
    server_frames = {type(frame.raw) for frame in record.sent}
    assert server_frames == ({str} if text_frames else {bytes})
    # Setup first; every client frame a text frame of camelCase JSON.
    assert record.received[0].kind == "setup"
    assert all(frame.is_text for frame in record.received)
    assert record.received[0].json == {
        "setup": {
            "model": f"models/{MODEL}",
            "generationConfig": {"responseModalities": ["AUDIO"]},
            "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
            "sessionResumption": {},
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
        }
    }
    kinds = [next(iter(f.json["realtimeInput"])) for f in record.frames("realtimeInput")]
    assert kinds[0] == "activityStart" and kinds[-1] == "activityEnd"
    assert set(kinds[1:-1]) == {"audio"} and len(kinds) - 2 == len(tone(0.6)) // 640
    assert all("_" not in key for f in record.received for key in _keys(f.json))
    # The key travelled in the x-goog-api-key header (the simulator accepts only KEY, and
    # records where it found it); no query string, no key in the path.
    assert record.auth_source == "header"
    assert record.path == (
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    assert KEY not in record.path and "?" not in record.path
    # A normal close, started by the client.
    assert (closed.code, closed.closed_by) == (1000, "client")
    assert (record.close_code, record.closed_by) == (1000, "client")
    assert isinstance(conn.close_error, SessionClosedError)
    assert conn.close_error.code == 1000


def _keys(value: Any) -> list[str]:
    """Every object key in a JSON value, at any depth."""
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in (key, *_keys(item))]
    if isinstance(value, list):
        return [k for item in value for k in _keys(item)]
    return []


async def test_automatic_activity_detection_turn(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        conn = await open_connection(sim, session_setup=make_setup(activity_detection=SERVER_VAD))
        reader = Reader(conn)
        with pytest.raises(LocalProtocolError):  # button calls are refused with server VAD
            await conn.begin_activity()
        await send_pcm(conn, tone(0.5) + silence(1.0))
        await conn.audio_stream_end()
        events = await reader.turn()
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert transcript(events).startswith("Parrot turn 1:")
    assert of_type(events, AudioChunk)
    record = sim.connections[0]
    setup = record.received[0].json["setup"]
    assert "realtimeInputConfig" not in setup  # server VAD with its defaults
    kinds = [next(iter(f.json["realtimeInput"])) for f in record.frames("realtimeInput")]
    assert kinds[-1] == "audioStreamEnd" and set(kinds[:-1]) == {"audio"}
    assert record.frames("realtimeInput")[-1].json == {"realtimeInput": {"audioStreamEnd": True}}


async def test_ephemeral_token_uses_constrained_v1alpha_and_authorization_header(
    sim_factory: SimFactory,
) -> None:
    async with sim_factory(SimOptions(pace=0, tokens=frozenset({TOKEN}))) as sim:
        conn = await open_connection(sim, token())
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        events = await reader.turn()
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)
        # The same simulator refuses a token it did not issue, after the upgrade (1007).
        with pytest.raises(SessionClosedError) as refused:
            await open_connection(sim, token("auth_tokens/not-issued-here"))

    assert transcript(events).startswith("Parrot turn 1:")
    record = sim.connections[0]
    assert (record.api_version, record.method) == ("v1alpha", "BidiGenerateContentConstrained")
    assert record.path == (
        "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    )
    # On the Constrained path the simulator reads only `Authorization: Token ...` (or the
    # access_token query parameter, which is absent).
    assert record.auth_source == "header" and "?" not in record.path
    assert (refused.value.code, sim.connections[1].auth_source) == (1007, "header")
    assert_class(refused.value, ErrorClass.FATAL)


async def test_tool_call_answered_with_local_tool(sim_factory: SimFactory) -> None:
    cet = datetime.timezone(datetime.timedelta(hours=1), "CET")
    context = ToolContext(datetime.datetime(2025, 3, 4, 14, 5, tzinfo=cet), "Europe/Berlin")
    async with sim_factory(SimOptions(pace=0, tool_call_every=2)) as sim:
        conn = await open_connection(
            sim,
            session_setup=make_setup(function_declarations=declarations_for(["get_time"], MODEL)),
        )
        reader = Reader(conn)
        calls: list[ToolCall] = []
        for _ in range(2):
            await manual_turn(conn, tone(0.3))
            events = await reader.until(lambda e: isinstance(e, (ToolCall, TurnComplete)))
            if isinstance(events[-1], ToolCall):
                calls.append(events[-1])
                for call in events[-1].calls:
                    result = run_local_tool(call, context, ["get_time"]).response
                    await conn.send_tool_response(call.id, call.name, result)
                events += await reader.turn()
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    # Only the second turn called the tool (every 2nd); the answer came after the response.
    assert len(calls) == 1 and [c.name for c in calls[0].calls] == ["get_time"]
    assert transcript(events).startswith("Parrot turn 2:")
    assert conn.session.pending_tool_calls == {}
    record = sim.connections[0]
    responses = [f.json for f in record.frames("toolResponse")]
    assert responses == [
        {
            "toolResponse": {
                "functionResponses": [
                    {
                        "id": calls[0].calls[0].id,
                        "name": "get_time",
                        "response": {
                            "date": "2025-03-04",
                            "time": "14:05",
                            "weekday": "Tuesday",
                            "time_zone": "Europe/Berlin",
                            "utc_offset": "+01:00",
                        },
                    }
                ]
            }
        }
    ]


async def test_barge_in_interrupts_the_answer(sim_factory: SimFactory) -> None:
    # pace=1: the 5 s answer streams in real time, so it is still running when the user
    # presses again right after its first chunk arrived.
    async with sim_factory(SimOptions(pace=1.0)) as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(6.0))
        await reader.until(lambda e: isinstance(e, AudioChunk))
        assert conn.session.model_turn is ModelTurn.ANSWERING
        await conn.begin_activity()  # barge-in
        cut = await reader.turn()
        await conn.end_activity()  # the new (empty) turn gets its own answer
        events = await reader.turn()
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert [type(e) for e in cut[-2:]] == [Interrupted, TurnComplete]
    assert not of_type(cut, GenerationComplete)  # the answer never finished
    turns = [e for e in sim.events if e.kind == "turn"]
    assert [(t.turn, t.interrupted) for t in turns] == [(1, True), (2, False)]
    assert transcript(events).startswith("Parrot turn 2:")


async def test_new_input_cancels_a_pending_blocking_call_on_38(sim_factory: SimFactory) -> None:
    # gemini-3.8 with behavior BLOCKING: new input cancels the pending call with
    # toolCallCancellation (Vertex 3.8 migration guide; docs/live-protocol.md 3.2). The client
    # holds audio and activityStart back meanwhile, so the new input here is realtime text.
    clock = declarations_for(["get_time"], "gemini-3.8-live")
    assert clock[0].behavior is Behavior.BLOCKING
    async with sim_factory(SimOptions(pace=0, tool_call_every=1)) as sim:
        setup = make_setup(model="gemini-3.8-live", function_declarations=clock)
        conn = await open_connection(sim, session_setup=setup)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        call = (await reader.until(lambda e: isinstance(e, ToolCall)))[-1]
        assert isinstance(call, ToolCall)
        call_id = call.calls[0].id
        assert dict(conn.session.pending_tool_calls) == {call_id: "get_time"}
        assert conn.input_blocked
        await conn.send_text("never mind")
        events = await reader.until(lambda e: isinstance(e, ToolCallCancellation))
        # The cancelled call is no longer pending: answering it now is a local mistake.
        assert call_id not in conn.session.pending_tool_calls
        with pytest.raises(LocalProtocolError):
            await conn.send_tool_response(call_id, "get_time", {"local_time": "late"})
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert [type(e) for e in events[-3:]] == [Interrupted, TurnComplete, ToolCallCancellation]
    cancellation = events[-1]
    assert isinstance(cancellation, ToolCallCancellation) and cancellation.ids == (call_id,)
    assert sim.connections[0].frames("toolResponse") == []  # the late answer was never sent
    assert sim.connections[0].closed_by == "client"


async def test_unknown_server_message_is_ignored(
    sim_factory: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edgevoice.ws")
    async with sim_factory(SimOptions(pace=0, faults=(Fault.parse("unknown@ready"),))) as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        events = await reader.turn()
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    record = sim.connections[0]
    assert "simulatorUnknownMessage" in record.sent_messages()[1]  # right after setupComplete
    assert transcript(events).startswith("Parrot turn 1:")  # the session carried on
    assert (record.close_code, record.closed_by) == (1000, "client")
    assert any("simulatorUnknownMessage" in r.getMessage() for r in caplog.records)


async def test_sending_after_the_server_closed_raises_the_close(sim_factory: SimFactory) -> None:
    fault = Fault.parse("close=1011:Internal error encountered.@ready")
    async with sim_factory(SimOptions(pace=0, faults=(fault,))) as sim:
        conn = await open_connection(sim)
        await sim.wait_closed(1, timeout_s=TIMEOUT)
        # Nothing read yet: the send itself finds the socket closed.
        with pytest.raises(SessionClosedError) as first:
            await conn.send_audio(tone(0.02))
        # And again, now from the session's record of the close, before touching the socket.
        with pytest.raises(SessionClosedError) as second:
            await conn.begin_activity()
        # Reading reports the same close.
        ended = await Reader(conn).end(SessionClosedError)

    for error in (first.value, second.value, ended):
        assert (error.code, error.reason) == (1011, "Internal error encountered.")
        assert not isinstance(error, LocalProtocolError)
        assert_class(error, ErrorClass.TRANSIENT)


class PongCounter(logging.Handler):
    """Sets `enough` once websockets has logged `wanted` received pongs."""

    def __init__(self, wanted: int) -> None:
        super().__init__(logging.DEBUG)
        self.wanted = wanted
        self.pings = 0
        self.pongs = 0
        self.enough = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.pings += message.startswith("> PING")
        self.pongs += message.startswith("< PONG")
        if self.pongs >= self.wanted:
            self.enough.set()


async def test_keepalive_pings_keep_the_connection_up(sim_factory: SimFactory) -> None:
    counter = PongCounter(wanted=3)
    wire_log = logging.getLogger("websockets.client")
    level = wire_log.level
    wire_log.setLevel(logging.DEBUG)
    wire_log.addHandler(counter)
    try:
        async with sim_factory() as sim:
            conn = await open_connection(
                endpoint(sim, keepalive_interval=0.05, keepalive_timeout=TIMEOUT)
            )
            # The simulator never pings; it answers ours through websockets.
            async with asyncio.timeout(TIMEOUT):
                await counter.enough.wait()
            assert conn.latency > 0
            reader = Reader(conn)
            await manual_turn(conn, tone(0.3))
            events = await reader.turn()
            await conn.close()
            closed = await sim.wait_closed(1, timeout_s=TIMEOUT)
    finally:
        wire_log.removeHandler(counter)
        wire_log.setLevel(level)

    assert counter.pings >= 3
    assert transcript(events).startswith("Parrot turn 1:")
    assert (closed.code, closed.closed_by) == (1000, "client")


async def test_resumption_updates_reach_the_session(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        events = await reader.turn()
        update = await reader.next()  # the resumable handle follows turnComplete
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    # While generating the handle is "" / not resumable; after the turn a real one arrives.
    assert [u.resumable for u in of_type(events, SessionResumptionUpdate)] == [False]
    assert isinstance(update, SessionResumptionUpdate) and update.resumable
    assert conn.session.resumption_handle == update.new_handle != ""
    sent = sim.connections[0].sent_messages("sessionResumptionUpdate")
    assert sent[-1]["sessionResumptionUpdate"]["newHandle"] == update.new_handle


@pytest.mark.parametrize("deflate", [True, False])
async def test_permessage_deflate_follows_the_endpoint_setting(
    sim_factory: SimFactory, deflate: bool
) -> None:
    async with sim_factory(SimOptions(pace=0)) as sim:
        conn = await open_connection(endpoint(sim, deflate=deflate))
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        await reader.turn()  # a whole turn flows either way
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)
    offered = [v for k, v in sim.connections[0].headers if k.lower() == "sec-websocket-extensions"]
    assert any("permessage-deflate" in v for v in offered) is deflate
