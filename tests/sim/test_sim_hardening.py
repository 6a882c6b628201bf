"""A simulator hostile clients cannot take down (issue 7, section 4, "The simulator").

Each test here failed on the simulator before the hardening: parse-level problems that ended in
1011 "Internal error", memory kept for ever, knobs that broke every connection later, a flood
that starved other clients.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from simkit import ask, audio_frame, client, output_text, session, setup, silence, tone, until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edgevoice.sim import Fault, FaultAction, SimOptions, VirtualClock, When
from edgevoice.sim.faults import Moment
from edgevoice.sim.resumption import MAX_HANDLES_PER_SESSION, ResumptionStore

GENERIC = (1007, "Request contains an invalid argument.")
QUOTA = "You exceeded your current quota, please check your plan and billing details."


# --- parse-level problems are 1007, never 1011 ---------------------------------------------


def deep(levels: int) -> str:
    return (
        '{"setup": {"model": "models/gemini-3.8-live", "tools": ['
        + "[" * levels
        + "]" * levels
        + "]}}"
    )


GEN = '{"setup": {"model": "models/gemini-3.8-live", "generationConfig": '
HOSTILE_SETUPS = {
    "deep JSON (100,000 levels)": deep(100_000),
    "deep JSON (150 levels)": deep(150),
    "an integer of 5,000 digits": GEN + '{"topK": ' + "9" * 5000 + "}}}",
    "a lone surrogate in setup.model": '{"setup": {"model": "models/gemini-\\ud800"}}',
    "a lone surrogate in a key": '{"setup": {"\\udfff": 1}}',
    "a NaN literal": GEN + '{"temperature": NaN}}}',
    "a float beyond float32": GEN + '{"temperature": 1e39}}}',
    "an integer beyond a double": GEN + '{"temperature": ' + "9" * 400 + "}}}",
}


@pytest.mark.parametrize("raw", list(HOSTILE_SETUPS.values()), ids=list(HOSTILE_SETUPS))
async def test_hostile_setup_frames_close_1007(sim_factory: Any, raw: str) -> None:
    async with sim_factory() as sim, client(sim) as c:
        await c.send(raw)
        code, _ = await c.closed()
    assert code == 1007  # the service's INVALID_ARGUMENT; sim_factory checks no internal error


async def test_hostile_frames_mid_session_close_1007(sim_factory: Any) -> None:
    nested = (
        '{"toolResponse": {"functionResponses": [{"id": "x", "name": "y", "response": '
        + ('{"a": ' * 5000 + "1" + "}" * 5000)
        + "}]}}"
    )
    async with sim_factory() as sim:
        for raw in (nested, '{"realtimeInput": {"text": "\\ud800"}}'):
            async with session(sim) as c:
                await c.send(raw)
                assert await c.closed() == GENERIC


# --- memory is bounded ------------------------------------------------------------------------


async def test_recorded_frames_are_bounded_per_connection_and_in_total(sim_factory: Any) -> None:
    options = SimOptions(
        pace=0, record_bytes_per_connection=64 * 1024, record_bytes_total=160 * 1024
    )
    frame = json.dumps(audio_frame(silence(0.1)))  # ~4.3 KB on the wire
    async with sim_factory(options) as sim:
        for _ in range(4):
            async with session(sim, setup(manual=False)) as c:
                for _ in range(60):
                    await c.send(frame)
                await c.send({"realtimeInput": {"audioStreamEnd": True}})
                await c.ws.close()
        await sim.wait_for(lambda e: e.kind == "close" and e.connection == 4)
        records = sim.connections
        assert sim.recorder.budget.used <= 160 * 1024
        assert all(r.received.bytes <= 64 * 1024 for r in records)
        last = records[-1]
        assert last.received.total == 62 and last.received.dropped > 0
        assert last.received[-1].index == 62  # the newest frames are the ones kept
        assert last.close_code == 1000 and last.setup is not None  # close info stays
        assert records[0].received.dropped > records[-1].received.dropped  # closed ones go first


async def test_audio_kept_per_turn_is_bounded_but_counted_in_full(sim_factory: Any) -> None:
    options = SimOptions(pace=0, max_heard_s=1.0)
    async with sim_factory(options) as sim, session(sim) as c:
        await ask(c, tone(3.0))
        answer = await c.turn()
    assert "I heard 3.0 s of audio." in output_text(answer)
    reply_s = (
        sum(
            len(m["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]) * 3 / 4
            for m in answer
            if "modelTurn" in m.get("serverContent", {})
        )
        / 2
        / 24_000
    )
    assert reply_s <= 1.0 / 1.15 + 0.05  # the parrot repeats only what was kept


async def test_queued_turns_are_folded_into_one(sim_factory: Any) -> None:
    clock = VirtualClock()  # holds the first answer while 40 more turns arrive
    options = SimOptions(
        pace=1, now=clock.now, sleep=clock.sleep, setup_timeout_s=None, lifetime_s=None
    )
    frame = setup(manual=False, realtimeInputConfig={"activityHandling": "NO_INTERRUPTION"})
    async with sim_factory(options) as sim, session(sim, frame) as c:
        await c.send({"realtimeInput": {"text": "first"}})
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        for index in range(40):
            await c.send({"realtimeInput": {"text": f"t{index}"}})
        record = sim.connections[0]
        await until(lambda: record.received.total == 42)
        clock.autojump = True
        await clock.advance(1)
        answers = [output_text(await c.turn()) for _ in range(5)]
        await sim.wait_for(lambda e: e.kind == "turn" and e.turn == 5)
    assert [a.split(":")[0] for a in answers] == [f"Parrot turn {n}" for n in range(1, 6)]
    assert "you said 't2'" in answers[3]
    assert "you said 't3 t4 t5" in answers[4] and "t39'" in answers[4]  # the folded backlog
    assert [e.turn for e in sim.events if e.kind == "turn"] == [1, 2, 3, 4, 5]


def test_resumption_handles_are_bounded_per_session() -> None:
    now = [0.0]
    store = ResumptionStore(7200, lambda: now[0])
    session_ = store.new_session("models/gemini-3.8-live", 1)
    handles = [store.issue(session_) for _ in range(100)]
    assert len(store) == MAX_HANDLES_PER_SESSION
    store.detach(session_)
    assert store.resume(handles[-1], "models/gemini-3.8-live", 2) is session_
    store.detach(session_)
    other = store.new_session("models/gemini-3.8-live", 3)
    now[0] += 7201
    store.issue(other)  # issuing prunes sessions past their TTL
    assert len(store) == 1


# --- knobs are checked at start ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("knobs", "words"),
    [
        ({"pace": math.nan}, "pace must be a finite number"),
        ({"pace": -1.0}, "pace must be"),
        ({"speed": math.nan}, "speed must be a finite number"),
        ({"speed": math.inf}, "speed must be a finite number"),
        ({"speed": 0.0}, "speed must be"),
        ({"chunk_ms": 0}, "chunk_ms must be a whole number"),
        ({"max_reply_s": -1.0}, "max_reply_s"),
        ({"vad_threshold_dbfs": math.nan}, "vad_threshold_dbfs"),
        ({"vad_silence_ms": -5}, "vad_silence_ms"),
        ({"tool_call_every": -1}, "tool_call_every"),
        ({"silent_turn_every": -2}, "silent_turn_every"),
        ({"handle_ttl_s": math.nan}, "handle_ttl_s"),
        ({"lifetime_s": 0.0}, "lifetime_s"),
        ({"lifetime_s": math.inf}, "lifetime_s"),
        ({"go_away_notice_s": -1.0}, "go_away_notice_s"),
        ({"lifetime_close": "later"}, "lifetime_close"),
        ({"setup_timeout_s": math.nan}, "setup_timeout_s"),
        ({"refuse_first": -1}, "refuse_first"),
        ({"refuse_mode": "maybe"}, "refuse_mode"),
        ({"max_connections": 0}, "max_connections"),
        ({"models": ()}, "at least one model"),
        ({"models": ("gemini-9-live",)}, "no known family"),
        ({"faults": (Fault(FaultAction.CLOSE, When(Moment.READY), 1005, "x"),)}, "1005"),
        ({"faults": (Fault(FaultAction.CLOSE, When(Moment.READY), 1006, "x"),)}, "1006"),
        ({"faults": (Fault(FaultAction.CLOSE, When(Moment.READY), 1015, "x"),)}, "1015"),
        (
            {"faults": (Fault(FaultAction.GOAWAY, When(Moment.READY), time_left_s=math.nan),)},
            "finite",
        ),
        ({"faults": (Fault(FaultAction.GOAWAY, When(Moment.READY), time_left_s=-1),)}, "finite"),
        ({"faults": (Fault(FaultAction.ABORT, When(Moment.READY), times=-1),)}, "times"),
    ],
)
def test_nonsense_knobs_are_refused_at_start_with_one_line(
    knobs: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        SimOptions(**knobs)
    assert "\n" not in str(caught.value)


# --- a flood does not take the simulator down -------------------------------------------------


async def test_a_flood_neither_stops_nor_starves_the_simulator(sim_factory: Any) -> None:
    options = SimOptions(pace=0, max_connections=12)
    big = json.dumps(audio_frame(tone(30.0)[:700_000]))  # ~930 KB frames of speech
    stop = asyncio.Event()

    async def flooder() -> None:
        try:
            async with connect(
                sim.endpoint(), additional_headers={"x-goog-api-key": "k"}, max_size=None
            ) as ws:
                await ws.send(json.dumps(setup(manual=False)))
                await ws.recv()  # setupComplete
                for _ in range(15):  # bounded: at most ~14 MB per flooder
                    if stop.is_set():
                        break
                    await ws.send(big)
                await stop.wait()
        except ConnectionClosed:
            pass

    async with sim_factory(options) as sim:
        flood = [asyncio.create_task(flooder()) for _ in range(6)]
        await sim.wait_for(lambda e: e.kind == "setup" and e.connection == 6)
        async with session(sim) as c:  # a normal user among the flooders
            await ask(c)
            answer = await c.turn()
        stop.set()
        await asyncio.gather(*flood)
        assert output_text(answer).startswith("Parrot turn 1")
        await until(lambda: sim.open_connections == 0)
        # Past max_connections: upgraded, then closed 1011 with the quota text at once.
        idle = [await connect(sim.endpoint()) for _ in range(12)]  # they hold their slots
        await until(lambda: sim.open_connections == 12)
        async with client(sim) as c:
            assert await c.closed() == (1011, QUOTA)
        for ws in idle:
            await ws.close()
    assert "over max_connections" in sim.connections[-1].close_detail
