"""The real daemon, measured from outside: `edgevoice run` on real-time audio devices (the rig's
private PulseAudio server), talking to the Live simulator on loopback, driven through its
control socket, timed by its own trace (edgevoice.adapters.trace).

`await run_live(LiveOptions(...))` returns `LiveResults`:

1. **Startup**: the daemon is started `ready_starts` times; each time from the spawn to the
   READY=1 datagram on the NOTIFY_SOCKET the bench bound (what systemd waits for). The last one
   stays up for the rest.
2. **Idle, no connection**: CPU of the daemon (/proc/<pid>/stat) over `idle_window_s` with no
   turn and no connection (capture and playback devices running, the voice gate listening to a
   quiet room).
3. **Turns** for at least `min_turns` and `turns_s` seconds: press (a request on the control
   socket), speak a short espeak-ng question into the microphone, release, let the parrot
   answer. Every 4th turn starts cold (`ctl cancel` first: no connection); every odd turn
   barges in (the press comes while the previous answer plays). The CPU of the warm turns (press
   to the next turn's start: capture at 48 kHz stereo, voice gate, the turn's audio sent, the
   reply received, resampled 24 -> 48 kHz and played) is the full-duplex figure.
4. **Idle, connected**: CPU over `idle_window_s` with the connection open and no turn.
5. **RSS** of the daemon after the turns; then SIGTERM (a clean stop is checked).

Latencies come from the trace afterwards (edgevoice.bench.latency). Problems (a turn not
answered, a daemon that did not stop cleanly) are collected in `problems`, not raised; RigError
and DaemonError end the run (the caller reports them).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevoice.adapters.trace import ENV as TRACE_ENV
from edgevoice.bench.latency import Latencies, latencies
from edgevoice.bench.procstat import CpuWindow, rss_mb
from edgevoice.bench.trace_read import TraceListener
from edgevoice.redact import Secret
from edgevoice.rig.clips import Clip
from edgevoice.rig.daemon import EARCONS_OFF, DaemonError, DaemonProcess, DaemonSetup
from edgevoice.rig.devices import RtAudio
from edgevoice.rig.host import require_tools
from edgevoice.rig.processes import spawn, stop_process
from edgevoice.rig.pulse import PulseServer
from edgevoice.sim import SimOptions, Simulator, run_simulator

QUESTION = "What time is it?"
NOISE_FLOOR_DBFS = -65.0  # a quiet room, not a dead microphone
STEP_TIMEOUT_S = 20.0  # hang guard of every wait on the daemon
BARGE_IN_AFTER_S = 0.25  # how long an answer plays before the next press cuts it
QUIET_AFTER_S = 0.3  # pause after an answer has played, before the next warm press
SETTLE_S = 2.0  # after start-up or a turn, before an idle window
MiB = 1 << 20

# On top of the rig's config (endpoint, pcm.mic / pcm.spk, temp paths): what a Pi with a USB
# sound card runs. 48 kHz stereo capture, 48 kHz stereo playback of the 24 kHz answer, the voice
# gate on (trigger "voice"; presses come through the control socket), earcons off (they would
# be playback the turns did not cause), info logging (the service's default level), and the
# connection kept open between turns (the bench closes it itself for a cold start).
BENCH_SETTINGS: dict[str, dict[str, Any]] = {
    "trigger": {"mode": "voice"},
    "audio": {"input_rate": 48000, "input_channels": 2, "output_rate": 48000, "output_channels": 2},
    "earcons": dict(EARCONS_OFF),
    "live": {"follow_up_window": 600.0},
    "log": {"level": "info"},
}

PLAYBACK_LINE = re.compile(r"playback: .* (\d+) ms periods, (\d+) ms prebuffer")


@dataclass(frozen=True)
class LiveOptions:
    min_turns: int = 50
    turns_s: float = 600.0  # keep turning at least this long (the RSS figure is after it)
    idle_window_s: float = 30.0
    ready_starts: int = 3
    progress: Callable[[str], None] | None = None


@dataclass
class LiveResults:
    latency: Latencies = field(default_factory=Latencies)
    ready_s: list[float] = field(default_factory=list)
    full_duplex: CpuWindow | None = None
    idle_connected: CpuWindow | None = None
    idle_unconnected: CpuWindow | None = None
    rss_start_mb: float = 0.0
    rss_mb: float = 0.0
    turns: int = 0
    turns_answered: int = 0
    turns_s: float = 0.0
    device_floor_percent: float | None = None
    jitter_buffer_ms: int | None = None
    device_period_ms: int | None = None
    trace_events: int = 0
    trace_bad_lines: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class TracedSetup(DaemonSetup):
    """The rig's daemon setup, plus EDGEVOICE_TRACE_SOCKET in its environment."""

    trace_socket: Path | None = None

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.trace_socket is not None:
            env[TRACE_ENV] = str(self.trace_socket)
        return env


def make_workdir() -> Path:
    """A private directory with room for socket paths (a Unix socket address is 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="edgevoice-bench-", dir="/tmp"))


class LiveBench:
    """One run (see the module docstring): `results = await LiveBench(options).run()`."""

    def __init__(self, options: LiveOptions) -> None:
        self.options = options
        self.results = LiveResults()
        self.workdir = make_workdir()
        self.server: PulseServer | None = None
        self.rt: RtAudio | None = None
        self.trace = TraceListener(self.workdir / "trace")
        self.daemon: DaemonProcess | None = None
        self.key = "bench-" + secrets.token_urlsafe(18)
        Secret(self.key)  # registered: scrubbed from any log line

    def say(self, text: str) -> None:
        if self.options.progress is not None:
            self.options.progress(text)

    async def run(self) -> LiveResults:
        require_tools()
        try:
            await self._run()
        finally:
            await self._tear_down()
        return self.results

    async def _run(self) -> None:
        self.server = PulseServer(self.workdir / "pulse")
        self.server.start()
        self.rt = RtAudio(self.server, self.workdir / "audio")
        clip = self.rt.utterance(QUESTION, lead_ms=100, tail_ms=150)
        self.rt.noise_floor(NOISE_FLOOR_DBFS)
        await self.trace.open()
        async with self._simulator() as sim:
            setup = TracedSetup.make(
                self.workdir / "daemon",
                endpoint=sim.url,
                alsa_config=self.rt.alsa_config,
                key=self.key,
                settings=BENCH_SETTINGS,
            )
            assert isinstance(setup, TracedSetup)
            setup.trace_socket = self.trace.path
            daemon = await self._start_ready(setup)
            await self._device_settings(daemon)
            await asyncio.sleep(SETTLE_S)
            self.results.rss_start_mb = rss_mb(daemon.pid)
            self.say(f"idle CPU, no connection ({self.options.idle_window_s:g} s)")
            self.results.idle_unconnected = await self._idle(daemon, connected=False)
            await self._turns(daemon, clip)
            self.say(f"idle CPU, connected ({self.options.idle_window_s:g} s)")
            self.results.idle_connected = await self._idle(daemon, connected=True)
            self.results.rss_mb = rss_mb(daemon.pid)
            await self._stop(daemon)
            self.say(
                f"device floor: a do-nothing PortAudio client ({self.options.idle_window_s:g} s)"
            )
            self.results.device_floor_percent = await self._device_floor(setup)
            if sim.internal_errors:
                self.results.problems += [f"simulator bug: {e}" for e in sim.internal_errors]
        await asyncio.sleep(0.1)  # the last trace datagrams
        self.trace.read_pending()
        self.results.latency = latencies(self.trace.events)
        self.results.trace_events = len(self.trace.events)
        self.results.trace_bad_lines = self.trace.bad_lines

    @contextlib.asynccontextmanager
    async def _simulator(self) -> AsyncIterator[Simulator]:
        # Real-time pacing like the service; a small frame record (the bench reads the trace).
        options = SimOptions(
            api_keys=frozenset({self.key}),
            pace=1.0,
            record_bytes_per_connection=MiB,
            record_bytes_total=8 * MiB,
        )
        async with run_simulator(options) as sim:
            yield sim

    # -- start-up ------------------------------------------------------------------------------

    async def _start_ready(self, setup: TracedSetup) -> DaemonProcess:
        """Start the daemon `ready_starts` times, timing spawn -> READY=1; the last one runs on."""
        starts = max(1, self.options.ready_starts)
        for number in range(1, starts + 1):
            daemon = DaemonProcess(setup)
            self.daemon = daemon
            await daemon.start()
            assert daemon.notify is not None and daemon.started_at is not None
            try:
                ready = await daemon.notify.wait_for(
                    lambda n: n.fields.get("READY") == "1", STEP_TIMEOUT_S
                )
            except TimeoutError:
                raise DaemonError(
                    f"no READY=1 within {STEP_TIMEOUT_S:g} s of the start", daemon.log()
                ) from None
            self.results.ready_s.append(ready.at - daemon.started_at)
            self.say(
                f"start {number}/{starts} (pid {daemon.pid}): READY=1 after "
                f"{ready.at - daemon.started_at:.3f} s"
            )
            await daemon.wait_ready(STEP_TIMEOUT_S)  # the control socket answers too
            if number < starts:
                await self._stop(daemon)
        return daemon

    async def _device_settings(self, daemon: DaemonProcess) -> None:
        """The jitter buffer target and device period the daemon says it opened playback with."""
        line = await daemon.wait_for_line(PLAYBACK_LINE.pattern, STEP_TIMEOUT_S)
        match = PLAYBACK_LINE.search(line)
        assert match is not None
        self.results.device_period_ms = int(match.group(1))
        self.results.jitter_buffer_ms = int(match.group(2))

    async def _stop(self, daemon: DaemonProcess) -> None:
        code = await daemon.terminate()
        if code != 0:
            self.results.problems.append(f"the daemon exited {code} on SIGTERM")
        elif daemon.tracebacks():
            self.results.problems.append("the daemon printed a traceback")

    async def _device_floor(self, setup: TracedSetup) -> float | None:
        """CPU of edgevoice.bench.device_floor on the same devices (percent of a core)."""
        env = setup.env()
        env.pop(TRACE_ENV, None)
        seconds = self.options.idle_window_s
        process = spawn(
            [sys.executable, "-m", "edgevoice.bench.device_floor", str(seconds + SETTLE_S + 5)],
            env=env,
            stdout=subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
            if line.strip() != b"running":
                self.results.problems.append("the device floor client did not start")
                return None
            await asyncio.sleep(SETTLE_S)
            window = CpuWindow(process.pid)
            window.start()
            await asyncio.sleep(seconds)
            window.stop()
            return window.percent
        finally:
            await asyncio.to_thread(stop_process, process)
            if process.stdout is not None:
                process.stdout.close()

    # -- idle ------------------------------------------------------------------------------------

    async def _connected(self, daemon: DaemonProcess) -> bool:
        status = await daemon.request({"cmd": "status"})
        return bool(isinstance(status, dict) and status.get("connected"))

    async def _idle(self, daemon: DaemonProcess, *, connected: bool) -> CpuWindow:
        await asyncio.sleep(SETTLE_S)
        if await self._connected(daemon) != connected:
            self.results.problems.append(
                f"idle window: the daemon was {'not ' if connected else ''}connected"
            )
        window = CpuWindow(daemon.pid)
        window.start()
        await asyncio.sleep(self.options.idle_window_s)
        window.stop()
        if await self._connected(daemon) != connected:
            self.results.problems.append(
                f"idle window: the connection {'closed' if connected else 'opened'} meanwhile"
            )
        return window

    # -- turns -----------------------------------------------------------------------------------

    async def _turns(self, daemon: DaemonProcess, clip: Clip) -> None:
        options = self.options
        window = self.results.full_duplex = CpuWindow(daemon.pid)
        began = time.monotonic()
        last_release = 0.0
        number = 0
        self.say(
            f"turns: at least {options.min_turns}, for at least {options.turns_s:g} s "
            f"({clip.sound_s:.1f} s of speech each)"
        )
        while number < options.min_turns or time.monotonic() - began < options.turns_s:
            kind = "cold" if number % 4 == 0 else "barge-in" if number % 2 == 1 else "warm"
            if number > 0:
                await self._before_turn(daemon, kind, last_release)
            window.stop()
            if kind == "cold":
                await self._disconnect(daemon)
            else:
                window.start()
            last_release = await self._turn(daemon, clip)
            number += 1
            self.results.turns = number
            if number % 10 == 0:
                self.say(
                    f"{number} turns, {time.monotonic() - began:.0f} s, "
                    f"RSS {rss_mb(daemon.pid):.1f} MB"
                )
        # The last answer plays out inside the window too.
        await self._before_turn(daemon, "warm", last_release)
        window.stop()
        self.results.turns_s = time.monotonic() - began

    async def _turn(self, daemon: DaemonProcess, clip: Clip) -> float:
        """Press, speak, release; the time of the release."""
        assert self.rt is not None
        await self._ctl(daemon, "press")
        playing = self.rt.play(clip)
        try:
            await playing.finished()
        finally:
            playing.stop()  # reaped, its pipe closed
        released = time.monotonic()
        await self._ctl(daemon, "release")
        return released

    async def _before_turn(self, daemon: DaemonProcess, kind: str, released: float) -> None:
        """Wait for the previous answer: until it plays (a barge-in), or has played."""
        trace = self.trace
        try:
            start = await trace.wait_for("play.start", released, STEP_TIMEOUT_S)
        except TimeoutError:
            self.results.problems.append(f"turn {self.results.turns}: no answer played")
            return
        self.results.turns_answered += 1
        if kind == "barge-in":
            await asyncio.sleep(BARGE_IN_AFTER_S)
            return
        try:
            await trace.wait_for("play.stop", start.at, STEP_TIMEOUT_S + 30)
        except TimeoutError:
            self.results.problems.append(f"turn {self.results.turns}: the answer never ended")
        await asyncio.sleep(QUIET_AFTER_S)

    async def _disconnect(self, daemon: DaemonProcess) -> None:
        """End the conversation (the connection closes) and wait until it is closed."""
        await self._ctl(daemon, "cancel")
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while await self._connected(daemon):
            if time.monotonic() > deadline:
                raise DaemonError("the connection stayed open after `ctl cancel`", daemon.log())
            await asyncio.sleep(0.05)

    async def _ctl(self, daemon: DaemonProcess, command: str) -> None:
        reply = await daemon.request({"cmd": command}, STEP_TIMEOUT_S)
        if not isinstance(reply, dict) or reply.get("ok") is not True:
            raise DaemonError(f"ctl {command} was refused: {reply!r}", daemon.log())

    # -- the end ---------------------------------------------------------------------------------

    async def _tear_down(self) -> None:
        daemon = self.daemon
        if daemon is not None and daemon.running:
            daemon.kill()
            with contextlib.suppress(Exception):
                await daemon.terminate(timeout_s=5)
        if daemon is not None:
            with contextlib.suppress(OSError):
                (self.workdir / "daemon.log").write_text("\n".join(daemon.lines) + "\n")
        if self.rt is not None:
            self.rt.close()
        if self.server is not None:
            self.server.stop()
        self.trace.close()
        with contextlib.suppress(OSError):  # never leave the key behind
            credential = self.workdir / "daemon" / "credentials" / "gemini-api-key"
            credential.chmod(0o600)
            credential.unlink()
        if not self.results.problems:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"edgevoice bench: the run's files are in {self.workdir}", file=sys.stderr)


async def run_live(options: LiveOptions) -> LiveResults:
    """Run the live part of the bench (see the module docstring)."""
    return await LiveBench(options).run()
