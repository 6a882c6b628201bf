"""The whole loop under test: the simulator in the test's event loop, the real-time devices, and
`edgevoice run` as a process between them, driven by `edgevoice ctl` and speech.

    async def test_x(loop_factory):
        loop = await loop_factory(settings={"trigger": {"mode": "voice"}}, sim=SimOptions(...))
        await loop.ctl("press"); loop.rt.speak("Hello there.") ...; await loop.ctl("release")
        await loop.wait_turns(1)
        (turn,) = loop.turns()           # what the simulator received, bracketed, decoded

At teardown the fixture stops every daemon with SIGTERM and asserts a clean exit (status 0, no
traceback), checks every frame any daemon sent against the official SDK's types (the oracle
in tests/live/conftest.py) and that the simulator hit no bug of its own.

What a test reads back is the simulator's record (`edgevoice.sim`: the frames as received,
decoded by `edgevoice.rig.wire`) and the speaker recording; never the daemon's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from daemonkit import CtlResult, DaemonProcess, Daemons, DaemonSetup, socket_request
from rtkit import SINK_RATE, RtAudio, Samples, SpeakerRecorder, resample

from edgevoice.rig import wire as rig_wire
from edgevoice.rig.daemon import EARCONS_OFF
from edgevoice.rig.wire import (
    MIC_MIME,
    MIC_RATE,
    REPLY_RATE,
    Item,
    Turn,
    audio_outside_turns,
    input_transcripts,
    reply_audio,
    turns_of,
)
from edgevoice.sim import ConnectionRecord, SimOptions, Simulator

__all__ = [
    "MIC_RATE",
    "REPLY_RATE",
    "Item",
    "Turn",
    "audio_outside_turns",
    "input_transcripts",
    "reply_audio",
    "turns_of",
    "wire",
]

LIVE_CONFTEST = Path(__file__).parent.parent / "live" / "conftest.py"

# Earcons off unless a test wants them: the speaker then carries the answers alone.
QUIET = {"earcons": dict(EARCONS_OFF)}


def wire(record: ConnectionRecord) -> list[Item]:
    """A connection's received frames, in order, decoded (edgevoice.rig.wire); every audio
    chunk must say it is 16 kHz PCM (protocol doc section 5)."""
    items = rig_wire.wire(record)
    for item in items:
        if item.kind == "audio":
            assert item.mime == MIC_MIME, item.mime
    return items


# --------------------------------------------------------------------------------------------
# The SDK oracle (the one in tests/live/conftest.py, loaded from its file)


_oracle_module: ModuleType | None = None


def oracle() -> Callable[[str], Any]:
    """`check_client_frame(raw)`: validates one client frame against google-genai's types."""
    global _oracle_module
    if _oracle_module is None:
        spec = importlib.util.spec_from_file_location("e2e_live_oracle", LIVE_CONFTEST)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _oracle_module = module
    check: Callable[[str], Any] = _oracle_module.check_client_frame
    return check


def check_frames_with_sdk(sim: Simulator) -> int:
    """Every frame the simulator kept validates against the SDK; returns how many."""
    check = oracle()
    count = 0
    for record in sim.connections:
        assert record.received.dropped == 0, "frames were dropped before they were checked"
        for frame in record.received:
            raw = frame.raw.decode() if isinstance(frame.raw, bytes) else frame.raw
            check(raw)
            count += 1
    return count


# --------------------------------------------------------------------------------------------
# The loop


@dataclass
class Loop:
    """One simulator, the test's real-time devices, one daemon (restartable) and the speaker
    recording."""

    sim: Simulator
    rt: RtAudio
    setup: DaemonSetup
    daemon: DaemonProcess
    daemons: Daemons
    speaker: SpeakerRecorder

    # --- driving -------------------------------------------------------------------------------
    async def ctl(self, *args: str, ok: bool = True) -> CtlResult:
        """`edgevoice ctl ARGS`; with `ok`, asserts it succeeded."""
        result = await self.daemon.ctl(*args)
        if ok:
            assert result.returncode == 0, f"ctl {' '.join(args)}: {result}\n{self.daemon.log()}"
        return result

    async def request(self, body: Mapping[str, Any] | bytes, timeout_s: float = 10.0) -> Any:
        """One line on the control socket, straight (for precise timing or raw bytes); the
        parsed reply, or None when the daemon closed the connection without one."""
        return await socket_request(self.setup.socket_path, body, timeout_s)

    async def restart(self) -> None:
        """SIGTERM (clean exit asserted), then the same setup again: state dir kept."""
        await self.daemon.stop()
        self.daemon = await self.daemons.start(self.setup)
        await self.daemon.wait_ready()

    # --- reading back --------------------------------------------------------------------------
    def items(self) -> list[Item]:
        return [item for record in self.sim.connections for item in wire(record)]

    def turns(self) -> list[Turn]:
        return [t for record in self.sim.connections for t in turns_of(wire(record))]

    def audio_sent(self) -> int:
        """Bytes of microphone audio the simulator received, all connections."""
        return sum(len(i.value) for i in self.items() if i.kind == "audio")

    async def wait_turns(self, count: int, timeout_s: float = 30.0) -> list[Turn]:
        """Wait until `count` turns have been closed with activityEnd."""
        deadline = time.monotonic() + timeout_s
        while True:
            done = [t for t in self.turns() if t.ended]
            if len(done) >= count:
                return done
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(done)} of {count} turns ended; items: {self.summary()}\n"
                    f"{self.daemon.log()}"
                )
            await asyncio.sleep(0.05)

    async def wait_answered(self, turn: int, timeout_s: float = 30.0) -> None:
        """Wait until the simulator finished answering the conversation's turn `turn`."""
        await self.sim.wait_for(lambda e: e.kind == "turn" and e.turn >= turn, timeout_s)

    def summary(self) -> str:
        """The items as a short string, audio as byte counts (for assertion messages)."""
        parts = []
        for item in self.items():
            parts.append(
                f"{item.connection}:audio[{len(item.value)}]"
                if item.kind == "audio"
                else f"{item.connection}:{item.kind}"
            )
        return " ".join(parts)


async def until(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "") -> None:
    """Poll `condition` on the event loop (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.05)


async def sleep_until(when: float) -> None:
    """Sleep on the event loop until monotonic time `when`."""
    await asyncio.sleep(max(0.0, when - time.monotonic()))


def reply_at_48k(reply: Samples) -> Samples:
    return resample(reply, REPLY_RATE, SINK_RATE)


LoopFactory = Callable[..., Awaitable[Loop]]


@pytest.fixture
async def loop_factory(
    rt_audio: RtAudio, daemons: Daemons, tmp_path: Path, sim_factory: Any
) -> AsyncIterator[LoopFactory]:
    """`await loop_factory(settings={...}, sim=SimOptions(...), quiet=True)`: a running loop.

    The simulator answers as fast as it can by default (`pace=0`: the daemon still plays in
    real time); tests about timing during an answer pass their own pace.

    `settings` go on top of the kit's config (the simulator's endpoint, `pcm.mic`/`pcm.spk`,
    tmp paths, debug log; with `quiet`, every earcon off). The daemon is ready (its control
    socket answers) and the speaker is being recorded when it returns.
    """
    stack = contextlib.AsyncExitStack()
    loops: list[Loop] = []

    async def make(
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        sim: SimOptions | None = None,
        quiet: bool = True,
    ) -> Loop:
        simulator = await stack.enter_async_context(sim_factory(sim or SimOptions(pace=0)))
        merged: dict[str, dict[str, Any]] = {}
        for extra in (QUIET if quiet else {}, settings or {}):
            for section, values in extra.items():
                merged.setdefault(section, {}).update(values)
        setup = DaemonSetup.make(
            tmp_path / f"daemon{len(loops)}",
            endpoint=simulator.url,
            alsa_config=rt_audio.alsa_config,
            settings=merged,
        )
        speaker = rt_audio.record_speaker(f"speaker{len(loops)}")
        daemon = await daemons.start(setup)
        await daemon.wait_ready()
        loop = Loop(simulator, rt_audio, setup, daemon, daemons, speaker)
        loops.append(loop)
        return loop

    try:
        yield make
        for loop in loops:
            if loop.daemon.running:
                await loop.daemon.stop()
            check_frames_with_sdk(loop.sim)
    finally:
        await stack.aclose()


def speech_level(samples: Samples, rate: int) -> float:
    """RMS dBFS of the loud part (10 ms windows within 30 dB of the loudest)."""
    n = rate // 100
    usable = len(samples) // n * n
    power = np.mean(np.square(samples[:usable]).reshape(-1, n), axis=1)
    if not len(power) or power.max() <= 0:
        return -150.0
    loud = power[power > power.max() / 1000]
    return float(10 * np.log10(np.mean(loud)))
