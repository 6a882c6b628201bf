"""`edgevoice ctl` against the running daemon, one command after another, plus what the daemon
must survive on its control socket, mute across a restart, and the turn-length limit.

Each effect is checked where a person would notice it: on the wire (the simulator's record),
on the speaker (the recording), or in `ctl status`.
"""

from __future__ import annotations

import asyncio

import pytest
from loopkit import MIC_RATE, Loop, LoopFactory, reply_at_48k, reply_audio
from rtkit import align, breaks, pieces

from edgevoice.sim import SimOptions

pytestmark = pytest.mark.usefixtures("needs_daemon")

QUESTION = "Please remind me to water the plants tomorrow morning."
SHORT = "Hello there."


async def held_turn(loop: Loop, text: str = QUESTION, *, muted: bool = False) -> None:
    """Press, speak, release through ctl. `muted`: the daemon refuses the press in one line
    that names the fix (the release then has nothing to end)."""
    pressed = await loop.ctl("press", ok=not muted)
    await loop.rt.speak(text).finished()
    await asyncio.sleep(0.3)
    await loop.ctl("release", ok=not muted)
    if muted:
        assert pressed.returncode != 0, pressed
        assert "muted" in pressed.stderr and "unmute" in pressed.stderr, pressed
        assert len(pressed.stderr.strip().splitlines()) == 1, pressed


async def test_status_human_and_json(loop_factory: LoopFactory) -> None:
    loop = await loop_factory()
    human = await loop.ctl("status")
    assert human.stdout.strip() and not human.stdout.lstrip().startswith("{")
    status = await loop.daemon.status()
    assert isinstance(status, dict)
    assert status.get("muted") is False
    assert "state" in status


async def test_say_sends_text_as_the_user_turn(loop_factory: LoopFactory) -> None:
    loop = await loop_factory()
    await loop.ctl("say", "What", "is", "on", "my", "calendar?")
    await loop.wait_answered(1)
    texts = [item.value for item in loop.items() if item.kind == "text"]
    assert texts == ["What is on my calendar?"]
    assert loop.audio_sent() == 0  # a text turn sends no microphone audio


@pytest.mark.slow
async def test_volume_changes_what_the_speaker_plays(loop_factory: LoopFactory) -> None:
    """The same answer (the parrot's chirp for a text turn) at 80 % and at 30 %."""
    loop = await loop_factory(settings={"audio": {"volume": 80}})
    levels = []
    after = loop.speaker.started
    for turn, percent in enumerate((80, 30), start=1):
        await loop.ctl("volume", str(percent))
        await loop.ctl("say", "Hi.")
        await loop.wait_answered(turn)
        replies = [r for record in loop.sim.connections for r in reply_audio(record)]
        start = await loop.speaker.wait_level(loud=True, after=after)
        after = await loop.speaker.wait_level(loud=False, after=start, hold_s=0.5)
        heard = loop.speaker.snapshot().between(start - 0.2, after + 0.2)
        found = align(heard, reply_at_48k(replies[turn - 1]))
        assert found.correlation > 0.9, found
        levels.append(found.gain_db)
    assert levels[1] < levels[0] - 3.0, levels
    assert (await loop.daemon.status()).get("volume") == 30


async def test_cancel_ends_the_conversation(loop_factory: LoopFactory) -> None:
    loop = await loop_factory()
    await held_turn(loop, SHORT)
    await loop.wait_turns(1)
    await loop.wait_answered(1)
    assert loop.sim.connections[0].open  # kept warm for live.follow_up_window
    await loop.ctl("cancel")
    closed = await loop.sim.wait_closed(1, timeout_s=10)
    assert closed.code == 1000 and closed.closed_by == "client", closed


async def test_ctl_refuses_bad_values_in_one_line(loop_factory: LoopFactory) -> None:
    loop = await loop_factory()
    for args in (("volume", "101"), ("volume", "loud"), ("say", ""), ("explode",)):
        result = await loop.ctl(*args, ok=False)
        assert result.returncode == 2, (args, result)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert loop.daemon.running


async def test_ctl_without_a_daemon_says_so_in_one_line(loop_factory: LoopFactory) -> None:
    loop = await loop_factory()
    await loop.daemon.stop()
    result = await loop.daemon.ctl("status")
    assert result.returncode != 0
    assert "not running" in result.stderr and len(result.stderr.strip().splitlines()) == 1


GARBAGE = [
    b"garbage\n",
    b"{}\n",
    b"[1, 2, 3]\n",
    b'{"cmd": "explode"}\n',
    b'{"cmd": "volume", "percent": "loud"}\n',
    b'{"cmd": "say", "text": "x", "extra": 1}\n',
    b'{"cmd": "\x1b[31mred\x07"}\n',
    b"\xff\xfe\xfd\n",
    b'{"cmd": ' + b"[" * 500 + b"\n",
    b'{"cmd": "press", "cmd": "release"}\n',
    b"x" * 10_000 + b"\n",
]


async def test_garbage_on_the_socket_gets_errors_and_never_disturbs_a_turn(
    loop_factory: LoopFactory,
) -> None:
    loop = await loop_factory()
    clip = loop.rt.utterance(QUESTION)
    await loop.ctl("press")
    playing = loop.rt.play(clip)
    # A client that connects and says nothing, and one that hangs up mid-line.
    idle = await asyncio.open_unix_connection(str(loop.setup.socket_path))
    _, half = await asyncio.open_unix_connection(str(loop.setup.socket_path))
    half.write(b'{"cmd": "pre')
    await half.drain()
    half.close()
    for line in GARBAGE:
        reply = await loop.request(line)
        if reply is not None:  # an over-long line may be cut off without a reply
            assert reply["ok"] is False, (line[:40], reply)
            assert "\n" not in reply["error"] and "\x1b" not in reply["error"]
    await playing.finished()
    await asyncio.sleep(0.3)
    await loop.ctl("release")
    (turn,) = await loop.wait_turns(1)
    found = align(turn.audio, clip.reference(MIC_RATE))
    assert found.correlation > 0.9, found
    assert found.lag >= 0 and found.lag + len(clip.reference(MIC_RATE)) <= len(turn.audio)
    assert breaks(pieces(turn.audio, clip.at(MIC_RATE), MIC_RATE)) == []
    await loop.wait_answered(1)
    idle[1].close()
    assert loop.daemon.running
    assert not any("\x1b" in line for line in loop.daemon.lines)
    await loop.daemon.status()


@pytest.mark.slow
async def test_mute_sends_nothing_and_survives_a_restart(loop_factory: LoopFactory) -> None:
    loop = await loop_factory()
    await loop.ctl("mute")
    assert (await loop.daemon.status())["muted"] is True
    await held_turn(loop, SHORT, muted=True)
    await asyncio.sleep(1.0)
    assert loop.sim.connections == [], loop.summary()  # nothing left the device

    await loop.restart()
    assert (await loop.daemon.status())["muted"] is True
    await held_turn(loop, SHORT, muted=True)
    await asyncio.sleep(1.0)
    assert loop.sim.connections == [], loop.summary()

    await loop.ctl("unmute")
    assert (await loop.daemon.status())["muted"] is False
    await held_turn(loop, "Can you hear me now?")
    (turn,) = await loop.wait_turns(1)
    reference = loop.rt.utterance("Can you hear me now?").reference(MIC_RATE)
    assert align(turn.audio, reference).correlation > 0.9


@pytest.mark.slow
async def test_the_turn_length_limit_ends_a_stuck_turn(loop_factory: LoopFactory) -> None:
    loop = await loop_factory(settings={"limits": {"max_turn_s": 5}}, sim=SimOptions(pace=0))
    long_talk = (
        "This is a very long request that goes on and on, because the button is stuck, "
        "and the device must end the turn by itself after five seconds, whatever I say."
    )
    await loop.ctl("press")
    playing = loop.rt.speak(long_talk)
    (turn,) = await loop.wait_turns(1, timeout_s=30)  # ended with no release
    assert 4.5 <= turn.seconds <= 5.7, turn.seconds
    await playing.finished()
    await loop.wait_answered(1)
    await loop.ctl("release", ok=False)  # a late release changes nothing on the wire
    await asyncio.sleep(0.5)
    assert len([i for i in loop.items() if i.kind == "activityEnd"]) == 1
    # One log line says why the turn ended.
    assert len(loop.daemon.lines_matching(r"turn 1 ended \(limit")) == 1, loop.daemon.log()
