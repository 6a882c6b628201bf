"""Tool calls through the in-process Daemon: a built-in answered, an operator command answered,
one cancelled by the server (its process group killed, no answer sent), and end_conversation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from appkit import TIMEOUT, RigFactory, until

from edgevoice.sim import SimOptions


def tool_responses(rig: object) -> list[dict[str, object]]:
    items = rig.items()  # type: ignore[attr-defined]
    return [r for i in items if i.kind == "toolResponse" for r in i.value["functionResponses"]]


async def one_turn(rig: object, text: str = "Please help me.") -> None:
    rig.press()  # type: ignore[attr-defined]
    speech = rig.rt.speak(text)  # type: ignore[attr-defined]
    await speech.finished(TIMEOUT)
    rig.release()  # type: ignore[attr-defined]


async def test_a_builtin_tool_call_is_answered(rig_factory: RigFactory) -> None:
    rig = await rig_factory(sim=SimOptions(pace=0, lifetime_s=None, tool_call_every=1))
    await one_turn(rig, "What time is it?")
    await rig.wait_answers(1)
    (response,) = tool_responses(rig)
    assert response["name"] == "get_time"
    answer = response["response"]
    assert isinstance(answer, dict) and {"date", "time", "weekday", "time_zone"} <= set(answer)
    assert "scheduling" not in response  # get_time blocks on 3.8: no scheduling allowed


def command(tmp_path: Path, name: str, body: str) -> list[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(body)
    return [sys.executable, str(script)]


async def test_an_operator_command_runs_with_its_arguments_and_is_answered(
    rig_factory: RigFactory, tmp_path: Path
) -> None:
    argv = command(
        tmp_path,
        "lights",
        "import json, os\nprint(json.dumps({'key': os.environ.get('GEMINI_API_KEY'), 'ok': 1}))\n",
    )
    settings = {
        "tools": {
            "command": [
                {
                    "name": "lights_on",
                    "description": "Switches the lights on.",
                    "argv": argv,
                    "behavior": "blocking",
                }
            ]
        }
    }
    sim = SimOptions(pace=0, lifetime_s=None, tool_call_every=1, tool_name="lights_on")
    rig = await rig_factory(settings, sim)
    await one_turn(rig)
    await rig.wait_answers(1)
    (response,) = tool_responses(rig)
    assert response["name"] == "lights_on"
    # The command's output is the answer; the daemon's key never reaches a tool.
    assert response["response"] == {"result": {"key": None, "ok": 1}}


async def test_a_cancelled_command_is_killed_and_never_answered(
    rig_factory: RigFactory, tmp_path: Path
) -> None:
    pid_file = tmp_path / "tool.pid"
    argv = command(
        tmp_path,
        "slow",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n",
    )
    settings = {
        "tools": {
            "command": [
                {
                    "name": "slow_lookup",
                    "description": "Looks something up slowly.",
                    "argv": argv,
                    "timeout_s": 300,
                    "behavior": "blocking",
                }
            ]
        }
    }
    # The second answer calls the tool; the third (the text below) does not.
    sim = SimOptions(pace=0, lifetime_s=None, tool_call_every=2, tool_name="slow_lookup")
    rig = await rig_factory(settings, sim)
    await rig.ctl("say", text="Hello.")
    await rig.wait_answers(1)
    await rig.ctl("say", text="Look it up, please.")
    await until(lambda: pid_file.exists() and pid_file.read_text().isdigit())
    pid = int(pid_file.read_text())
    assert rig.conversation.state.value == "thinking"  # our tool runs: the model waits
    # On gemini-3.8 new input cancels a pending blocking call (toolCallCancellation).
    await rig.ctl("say", text="Never mind.")
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.interrupted, timeout_s=TIMEOUT)

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await until(gone)  # its process group was killed
    await rig.wait_answers(3)  # the text was answered
    assert tool_responses(rig) == []  # the cancelled call was never answered
    assert rig.conversation.counters.tool_cancellations == 1


async def test_end_conversation_closes_after_the_reply_and_drops_the_handle(
    rig_factory: RigFactory,
) -> None:
    sim = SimOptions(pace=0, lifetime_s=None, tool_call_every=1, tool_name="end_conversation")
    rig = await rig_factory(sim=sim)
    await one_turn(rig, "Goodbye.")
    await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    record = rig.sim.connections[0]
    assert (record.close_code, record.closed_by) == (1000, "client")
    (response,) = tool_responses(rig)
    assert response["name"] == "end_conversation"
    assert response.get("scheduling") == "SILENT"  # non-blocking on 3.8: nothing to say
    assert rig.conversation.policy.handle is None
    await rig.wait_state("idle")
    assert rig.sim.open_connections == 0


@pytest.mark.parametrize(
    "model", ["gemini-3.8-live", "gemini-2.5-flash-native-audio-preview-12-2025"]
)
async def test_a_press_during_a_running_blocking_command_cancels_it(
    rig_factory: RigFactory, tmp_path: Path, model: str
) -> None:
    # The session holds activityStart back while a blocking call is pending (2.5 and 3.1 close
    # 1008 on new input then): a press kills our command and answers the call as cancelled,
    # so the new turn starts at once instead of after the command.
    pid_file = tmp_path / "tool.pid"
    # The first call hangs (until killed); later calls answer at once.
    argv = command(
        tmp_path,
        "slow",
        "import os, sys, time\n"
        f"if os.path.exists({str(pid_file)!r}):\n    print('{{}}')\n    sys.exit(0)\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n",
    )
    settings = {
        "live": {"model": model},
        "tools": {
            "command": [
                {
                    "name": "slow_lookup",
                    "description": "Looks something up slowly.",
                    "argv": argv,
                    "timeout_s": 300,
                    "behavior": "blocking",
                }
            ]
        },
    }
    sim = SimOptions(pace=0, lifetime_s=None, tool_call_every=1, tool_name="slow_lookup")
    rig = await rig_factory(settings, sim)
    await one_turn(rig)
    await until(lambda: pid_file.exists() and pid_file.read_text().isdigit())
    pid = int(pid_file.read_text())
    rig.press()  # barge in while the command runs
    await until(lambda: len(rig.turns()) == 2)  # the new turn's activityStart went out

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    await until(gone)
    response = tool_responses(rig)[0]
    assert "cancelled" in str(response["response"]["error"])
    speech = rig.rt.speak("Never mind.")
    await speech.finished(TIMEOUT)
    rig.release()
    await rig.wait_turns(2)
    await rig.wait_answers(2)
    record = rig.sim.connections[0]
    assert record.close_code is None  # no 1008: nothing was sent while the call was pending
