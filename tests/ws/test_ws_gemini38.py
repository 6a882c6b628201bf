"""Issue #8 through the client on loopback: audio during a pending blocking tool call is held back
and counted, never sent; a late transcription after turnComplete leaves the session rotatable
after a goAway; interactionStatus IN_PROGRESS keeps the interaction open until IDLE.

The simulator runs the cases it can run today; the raw server (rawkit) sends the exact 3.8
message sequences from the protocol doc (section 4.2) that the simulator's 3.8 knobs will
produce, and the simulator's own 3.8 knobs (late_transcription, silent_turn_every, the
`aborted` fault) run the same cases against its per-family rules.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from rawkit import RawPeer, RawServer, message
from wskit import (
    TIMEOUT,
    Reader,
    make_setup,
    manual_turn,
    of_type,
    open_connection,
    tone,
)

from edgevoice.errors import Action, ErrorClass, SessionClosedError, disposition
from edgevoice.live.events import (
    GoAway,
    InteractionUpdate,
    OutputTranscription,
    ToolCall,
    TurnComplete,
)
from edgevoice.live.tools import declarations_for
from edgevoice.sim import Fault, SimOptions

SimFactory = Callable[..., Any]
CHUNK = tone(0.02)
MODEL_38 = "gemini-3.8-live"
AUDIO_24K = base64.b64encode(bytes(960)).decode()  # 20 ms of silence at 24 kHz


def audio_frames(sim: Any, connection: int = 0) -> int:
    return sum(1 for f in sim.connections[connection].frames("realtimeInput") if "audio" in f.body)


async def held_back_during_a_blocking_call(sim: Any, model: str) -> None:
    setup = make_setup(model=model, function_declarations=declarations_for(["get_time"], model))
    conn = await open_connection(sim, session_setup=setup)
    reader = Reader(conn)
    await manual_turn(conn, tone(0.3))  # 15 frames of 20 ms
    call = (await reader.until(lambda e: isinstance(e, ToolCall)))[-1]
    assert isinstance(call, ToolCall)
    assert conn.input_blocked
    # The microphone keeps delivering: nothing goes out, everything is counted.
    results = [await conn.send_audio(CHUNK) for _ in range(25)]
    assert results == [False] * 25
    assert (conn.audio_held_back.frames, conn.audio_held_back.audio_bytes) == (25, 25 * len(CHUNK))
    assert conn.audio_dropped == 0  # held back by the protocol, not dropped by the uplink
    fc = call.calls[0]
    await conn.send_tool_response(fc.id, fc.name, {"time": "12:00"})
    assert not conn.input_blocked
    await reader.turn()
    await conn.close()
    await sim.wait_closed(1, timeout_s=TIMEOUT)
    # Only the turn's own 15 frames reached the server: none while the call was pending.
    assert audio_frames(sim) == 15
    record = sim.connections[0]
    assert record.close_code != 1008 and record.closed_by == "client"


async def test_audio_during_a_blocking_call_is_held_back_on_25(sim_factory: SimFactory) -> None:
    async with sim_factory(SimOptions(pace=0, tool_call_every=1)) as sim:
        await held_back_during_a_blocking_call(sim, "gemini-2.5-flash-native-audio-preview-12-2025")


async def test_audio_during_a_blocking_call_is_held_back_on_38(sim_factory: SimFactory) -> None:
    # get_time declares BLOCKING; on 3.8 (NON_BLOCKING by default) that opts back in.
    async with sim_factory(SimOptions(pace=0, tool_call_every=1)) as sim:
        await held_back_during_a_blocking_call(sim, MODEL_38)


async def test_the_simulators_aborted_close_is_transient_with_the_handle(
    sim_factory: SimFactory,
) -> None:
    async with sim_factory(SimOptions(pace=0, faults=(Fault.parse("aborted@turn:1"),))) as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        error = await reader.end(SessionClosedError)
    assert (error.code, error.reason) == (1008, "The operation was aborted.")
    assert error.error_class is ErrorClass.TRANSIENT and not error.resumption_rejected
    result = disposition(error)
    assert result.action is Action.RETRY and result.keep_handle


# --------------------------------------------------------------------------------------------
# Turn boundaries on 3.8, from a raw server sending the documented sequences


async def answer_one_turn(peer: RawPeer, *after: dict[str, Any]) -> None:
    """Wait for the client's activityEnd, answer with audio and turnComplete, then `after`."""
    while True:
        body = (await peer.read_message()).get("realtimeInput", {})
        if "activityEnd" in body:
            break
    peer.send(message({"serverContent": {"modelTurn": {"parts": [
        {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": AUDIO_24K}}]}}}))  # fmt: skip
    for extra in after:
        peer.send(message(extra))


async def test_a_late_transcription_leaves_the_session_rotatable(sim_factory: SimFactory) -> None:
    # Section 4.2: an outputTranscription may arrive after turnComplete; it must not reopen the
    # model turn (it blocked rotation after a goAway until the deadline cut the connection).
    async def script(peer: RawPeer) -> None:
        await peer.upgrade()
        await peer.read_message()
        peer.send(message({"setupComplete": {}}))
        peer.send(message({"goAway": {"timeLeft": "30s"}}))
        await answer_one_turn(
            peer,
            {"serverContent": {"turnComplete": True}},
            {"serverContent": {"outputTranscription": {"text": "late words"}}},
        )
        await peer.read_until_close()

    async with RawServer(script) as server:
        conn = await open_connection(server.url, session_setup=make_setup(model=MODEL_38))
        reader = Reader(conn)
        assert isinstance(await reader.next(), GoAway)
        await manual_turn(conn, tone(0.1))
        await reader.until(lambda e: isinstance(e, OutputTranscription))
        rotatable = conn.session.can_rotate
        await conn.close()
    assert of_type(reader.seen, TurnComplete)
    assert rotatable


async def test_in_progress_keeps_the_interaction_open_until_idle() -> None:
    # Section 4.2 (live-api/thinking): turnComplete with interactionStatus IN_PROGRESS does not
    # end the interaction: no rotation, no idle close, until IDLE.
    idle = asyncio.Event()

    async def script(peer: RawPeer) -> None:
        await peer.upgrade()
        await peer.read_message()
        peer.send(message({"setupComplete": {}}))
        peer.send(message({"goAway": {"timeLeft": "30s"}}))
        await answer_one_turn(
            peer, {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}}
        )
        await idle.wait()
        peer.send(message({"serverContent": {"interactionStatus": "IDLE"}}))
        await peer.read_until_close()

    async with RawServer(script) as server:
        conn = await open_connection(server.url, session_setup=make_setup(model=MODEL_38))
        reader = Reader(conn)
        await manual_turn(conn, tone(0.1))
        done = (await reader.turn())[-1]
        assert isinstance(done, TurnComplete) and done.continues
        during = (conn.session.can_rotate, conn.session.interaction_idle)
        idle.set()
        update = await reader.until(lambda e: isinstance(e, InteractionUpdate))
        after = (conn.session.can_rotate, conn.session.interaction_idle)
        await conn.close()
    assert during == (False, False)
    assert isinstance(update[-1], InteractionUpdate) and update[-1].status == "IDLE"
    assert after == (True, True)


async def test_simulated_late_transcription_leaves_the_session_rotatable(
    sim_factory: SimFactory,
) -> None:
    options = SimOptions(pace=0, late_transcription=True, faults=(Fault.parse("goaway=30@ready"),))
    async with sim_factory(options) as sim:
        conn = await open_connection(sim, session_setup=make_setup(model=MODEL_38))
        reader = Reader(conn)
        await reader.until(lambda e: isinstance(e, GoAway))
        await manual_turn(conn, tone(0.3))
        await reader.turn()
        await reader.until(lambda e: isinstance(e, OutputTranscription))
        assert conn.session.can_rotate
        await conn.close()


async def test_a_silent_turn_is_a_valid_outcome(sim_factory: SimFactory) -> None:
    async with sim_factory(SimOptions(pace=0, silent_turn_every=1)) as sim:
        conn = await open_connection(sim, session_setup=make_setup(model=MODEL_38))
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        done = (await reader.turn())[-1]
        assert isinstance(done, TurnComplete) and done.silent
        assert conn.session.interaction_idle
        await conn.close()
