"""Tool calls through the whole loop: the simulator's parrot calls a tool before its answer.

- a built-in answered (get_time: the device's date, checked against the test's own clock);
- an operator tool (`[[tools.command]]`, a shell script with a child of its own) cancelled by
  new input: the simulator sends toolCallCancellation and the tool's whole process group dies;
- end_conversation: the device answers, then closes the connection with 1000, and the next
  turn starts a fresh session (the resumption handle was dropped).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from loopkit import MIC_RATE, Loop, LoopFactory, until
from rtkit import align

from edgevoice.sim import SimOptions

pytestmark = pytest.mark.usefixtures("needs_daemon")

QUESTION = "What time is it?"


async def turn(loop: Loop, text: str = QUESTION) -> None:
    """A hold-to-talk turn through ctl: press, speak, release."""
    await loop.ctl("press")
    await loop.rt.speak(text).finished()
    await asyncio.sleep(0.3)
    await loop.ctl("release")


def tool_calls(loop: Loop) -> list[dict]:
    return [
        call
        for record in loop.sim.connections
        for message in record.sent_messages("toolCall")
        for call in message["toolCall"]["functionCalls"]
    ]


def tool_responses(loop: Loop) -> list[dict]:
    return [
        response
        for item in loop.items()
        if item.kind == "toolResponse"
        for response in item.value["functionResponses"]
    ]


async def test_a_builtin_tool_call_is_answered(loop_factory: LoopFactory) -> None:
    loop = await loop_factory(
        settings={"live": {"tools": ["get_time"]}},
        sim=SimOptions(pace=0, tool_call_every=1, tool_name="get_time"),
    )
    before = dt.date.today()
    await turn(loop)
    (user_turn,) = await loop.wait_turns(1)
    await loop.wait_answered(1)
    (call,) = tool_calls(loop)
    await until(lambda: bool(tool_responses(loop)), what="the toolResponse")
    (response,) = tool_responses(loop)
    assert response["id"] == call["id"]
    assert response["name"] == "get_time"
    assert response["response"]["date"] in {before.isoformat(), dt.date.today().isoformat()}
    assert align(user_turn.audio, loop.rt.utterance(QUESTION).reference(MIC_RATE)).correlation > 0.9


SLOW_TOOL = """#!/bin/sh
# First call: start a child and wait for it (the test checks both die); later calls answer.
if [ -e "{dir}/first" ]; then echo '{{"found": "nothing"}}'; exit 0; fi
: > "{dir}/first"
sleep 60 &
echo $! > "{dir}/child.pid"
echo $$ > "{dir}/tool.pid"
wait
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def slow_tool(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The script's directory and its [[tools.command]] table (blocking, name slow_lookup)."""
    work = tmp_path / "tool"
    work.mkdir()
    script = work / "slow_lookup.sh"
    script.write_text(SLOW_TOOL.format(dir=work))
    script.chmod(0o755)
    table = {
        "name": "slow_lookup",
        "description": "Looks something up; takes a while.",
        "argv": [str(script)],
        "timeout_s": 120,
        "behavior": "blocking",
    }
    return work, table


async def running_tool(loop: Loop, work: Path) -> list[int]:
    """After a turn: wait until the simulator's call runs; the pids of the script and its
    child, both alive."""
    await until(lambda: (work / "child.pid").exists() and (work / "tool.pid").exists(), 30)
    await asyncio.sleep(0.1)
    pids = [int((work / n).read_text()) for n in ("tool.pid", "child.pid")]
    assert all(alive(p) for p in pids)
    return pids


async def test_an_operator_tool_cancelled_by_the_server_is_killed_with_its_children(
    loop_factory: LoopFactory, tmp_path: Path
) -> None:
    work, table = slow_tool(tmp_path)
    loop = await loop_factory(
        settings={"tools": {"command": [table]}},
        sim=SimOptions(pace=0, tool_call_every=1, tool_name="slow_lookup"),
    )
    await turn(loop)
    await loop.wait_turns(1)
    pids = await running_tool(loop, work)
    (call,) = tool_calls(loop)
    # New input while the blocking call runs: on gemini-3.8-live the server cancels the call
    # (protocol doc section 3.2). Text (`ctl say`) goes to the server as it is.
    await loop.ctl("say", "Never mind.")
    cancelled = await _cancellation(loop)
    assert call["id"] in cancelled
    await until(lambda: not any(alive(p) for p in pids), 20, "the tool's process group to die")
    await loop.wait_answered(2)  # the new input is answered
    # No answer went out for the call the server cancelled.
    assert call["id"] not in [r["id"] for r in tool_responses(loop)]


@pytest.mark.slow
async def test_a_press_while_a_blocking_tool_runs_cancels_it_and_the_turn_starts_at_once(
    loop_factory: LoopFactory, tmp_path: Path
) -> None:
    """Audio and activityStart may not go out while a blocking call is pending (protocol doc
    section 3.2), so a barge-in press ends the daemon's own command (its process group is
    killed), answers the call as cancelled, and then opens the new turn."""
    work, table = slow_tool(tmp_path)
    loop = await loop_factory(
        settings={"tools": {"command": [table]}},
        sim=SimOptions(pace=0, tool_call_every=1, tool_name="slow_lookup"),
    )
    await turn(loop)
    await loop.wait_turns(1)
    pids = await running_tool(loop, work)
    (call,) = tool_calls(loop)
    clip = loop.rt.utterance("Never mind, what time is it?")
    await loop.ctl("press")
    await until(lambda: not any(alive(p) for p in pids), 20, "the tool's process group to die")
    await loop.rt.play(clip).finished()
    await asyncio.sleep(0.3)
    await loop.ctl("release")
    _, second = await loop.wait_turns(2)
    (answer,) = [r for r in tool_responses(loop) if r["id"] == call["id"]]
    assert "cancel" in json.dumps(answer["response"]).lower(), answer
    # The toolResponse went out before the new turn's activityStart (the simulator's parrot
    # calls the tool again before its next answer: that call is answered at once).
    kinds = [i.kind for i in loop.items() if i.kind in ("toolResponse", "activityStart")]
    assert kinds[:3] == ["activityStart", "toolResponse", "activityStart"], kinds
    found = align(second.audio, clip.reference(MIC_RATE))
    assert found.correlation > 0.9 and found.lag >= 0, found


async def _cancellation(loop: Loop) -> list[str]:
    """Ids the server cancelled (toolCallCancellation), once there are any."""

    async def ids() -> list[str]:
        while True:
            found = [
                i
                for record in loop.sim.connections
                for m in record.sent_messages("toolCallCancellation")
                for i in m["toolCallCancellation"]["ids"]
            ]
            if found:
                return found
            await asyncio.sleep(0.05)

    try:
        return await asyncio.wait_for(ids(), 20)
    except TimeoutError:
        sent = [list(m) for r in loop.sim.connections for m in r.sent_messages()]
        raise AssertionError(
            f"no toolCallCancellation; sent {sent}; received {loop.summary()}\n{loop.daemon.log()}"
        ) from None


@pytest.mark.slow
async def test_end_conversation_closes_the_connection_and_drops_the_handle(
    loop_factory: LoopFactory,
) -> None:
    loop = await loop_factory(
        settings={"live": {"tools": ["get_time", "end_conversation"], "resumption": True}},
        sim=SimOptions(pace=0, tool_call_every=1, tool_name="end_conversation"),
    )
    await turn(loop, "Thanks, goodbye.")
    await loop.wait_turns(1)
    closed = await loop.sim.wait_closed(1, timeout_s=30)
    assert closed.code == 1000, closed
    assert closed.closed_by == "client", closed
    (call,) = tool_calls(loop)
    assert [r["id"] for r in tool_responses(loop)] == [call["id"]]
    # The next turn starts a fresh session: no resumption handle was offered.
    await turn(loop, "Hello again.")
    await loop.wait_turns(2)
    second = loop.sim.connections[1]
    assert not second.resumed
    assert "handle" not in (second.setup or {}).get("sessionResumption", {})


@pytest.mark.slow
async def test_after_the_follow_up_window_the_connection_closes_and_the_next_turn_resumes(
    loop_factory: LoopFactory,
) -> None:
    """The contrast to end_conversation: an idle connection is closed 1000 after
    live.follow_up_window (silence is billed), and the handle is kept for the next turn."""
    loop = await loop_factory(
        settings={"live": {"follow_up_window": 1.0, "resumption": True}},
        sim=SimOptions(pace=0),
    )
    await turn(loop, "Hello there.")
    await loop.wait_turns(1)
    await loop.wait_answered(1)
    closed = await loop.sim.wait_closed(1, timeout_s=20)
    assert closed.code == 1000 and closed.closed_by == "client", closed
    await turn(loop, "Hello again.")
    await loop.wait_turns(2)
    second = loop.sim.connections[1]
    assert second.resumed, "the handle from the first connection was not used"
