"""Carrying a planned fault out: on the simulator (struck on the open connection now, or armed
for the next one when none is open, or refusing the next attempts), or on the microphone (its
PulseAudio source unloaded, then loaded again: a USB microphone pulled and plugged back in).

Every fault is logged as an `Injected` with the wall time (time.monotonic) it took effect, so
the report can say whether a successful turn followed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from edgevoice.rig.devices import NoiseFloor, RtAudio
from edgevoice.rig.pulse import MIC_SINK, SINK_CHANNELS, SINK_RATE, PulseServer
from edgevoice.sim import Fault, FaultAction, Moment, Simulator, When
from edgevoice.soak.plan import FaultKind, Step

log = logging.getLogger("edgevoice.soak")

INTERNAL_ERROR = "Internal error encountered."

# The simulator's action for each fault kind that is a simulator knob.
SIM_ACTIONS: dict[FaultKind, FaultAction] = {
    FaultKind.DROP: FaultAction.ABORT,
    FaultKind.INTERNAL: FaultAction.CLOSE,
    FaultKind.ABORTED: FaultAction.ABORTED,
    FaultKind.UNAVAILABLE: FaultAction.UNAVAILABLE,
    FaultKind.GOAWAY: FaultAction.GOAWAY,
    FaultKind.STALL: FaultAction.STALL,
    FaultKind.MALFORMED: FaultAction.MALFORMED,
    FaultKind.UNKNOWN: FaultAction.UNKNOWN,
    FaultKind.OVERSIZED: FaultAction.OVERSIZED,
}


@dataclass
class Injected:
    """One fault the soak injected."""

    step: int
    kind: FaultKind
    at: float  # time.monotonic() it was injected
    how: str  # "struck on the open connection", "armed for the next connection", ...
    fired_at: float | None = None  # when it took effect (None: it never came to pass)
    recovered_at: float | None = None  # the end of the first answered turn after it

    def line(self) -> str:
        return f"step {self.step}: {self.kind.value} ({self.how})"


class Microphone:
    """The microphone's source (`micsink` and its monitor), and the room noise played into it.

    `unplug(gone_s)` unloads the null sink (the ALSA `pcm.mic` stream reading its monitor
    fails, as a pulled USB microphone's does), waits, and loads it again the same way, with the
    loopback that keeps it flowing and the noise floor."""

    def __init__(self, server: PulseServer, rt: RtAudio, noise_dbfs: float) -> None:
        self.server = server
        self.rt = rt
        self.noise_dbfs = noise_dbfs
        self.noise: NoiseFloor | None = rt.noise_floor(noise_dbfs)
        self.gone = False
        self.kills = 0  # unplugs that killed the streams reading the microphone
        self._cli_socket: Path | None = None

    def _module(self, pattern: str) -> list[str]:
        rx = re.compile(pattern)
        return [
            line.split("\t")[0]
            for line in self.server.pactl("list", "short", "modules").splitlines()
            if rx.search(line)
        ]

    async def _cli(self, *commands: str) -> None:
        """Commands on the server's CLI socket (pactl has no kill-source-output; pacmd wants
        a pid file this private server does not write). The module is loaded the first time."""
        if self._cli_socket is None:
            path = self.server.directory / "cli"
            await asyncio.to_thread(
                self.server.pactl, "load-module", "module-cli-protocol-unix", f"socket={path}"
            )
            self._cli_socket = path
        reader, writer = await asyncio.open_unix_connection(str(self._cli_socket))
        try:
            writer.write("".join(f"{c}\n" for c in commands).encode())
            await writer.drain()
            with contextlib.suppress(TimeoutError):  # it answers nothing when all went well
                await asyncio.wait_for(reader.read(4096), 0.3)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _client_source_outputs(self) -> list[str]:
        """Recording streams a client opened (the daemon's microphone), not a module's."""
        out = []
        for line in self.server.pactl("list", "short", "source-outputs").splitlines():
            cols = line.split("\t")
            if len(cols) > 2 and cols[2] != "-":
                out.append(cols[0])
        return out

    async def unplug(self, gone_s: float) -> None:
        self.gone = True
        # pactl and the noise's stop block: in a thread, so the simulator (on this loop) goes on.
        if self.noise is not None:
            await asyncio.to_thread(self.noise.stop)
            self.noise = None
        for module in await asyncio.to_thread(
            self._module, rf"module-null-sink\tsink_name={MIC_SINK}\b"
        ):
            await asyncio.to_thread(self.server.pactl, "unload-module", module)
        # PulseAudio rescues a removed source's streams (moves them to another source), so
        # the microphone would go on, hearing something else: its stream is killed instead,
        # as a pulled USB device's is (the daemon's read fails; opening again fails while the
        # source is gone). The loopbacks' streams (owned by a module) are kept.
        outputs = await asyncio.to_thread(self._client_source_outputs)
        if outputs:
            await self._cli(*(f"kill-source-output {n}" for n in outputs))
            self.kills += 1
        try:
            await asyncio.sleep(gone_s)
        finally:
            await asyncio.to_thread(
                self.server.pactl,
                "load-module", "module-null-sink", f"sink_name={MIC_SINK}", f"rate={SINK_RATE}",
                f"channels={SINK_CHANNELS}", "norewinds=1",
            )  # fmt: skip
            # The loopback that keeps a new stream from stalling went with the source.
            await asyncio.to_thread(
                self.server.pactl,
                "load-module", "module-loopback", f"source={MIC_SINK}.monitor",
                "sink=keepalive", "latency_msec=30",
            )  # fmt: skip
            self.noise = self.rt.noise_floor(self.noise_dbfs)  # spawns: on the main thread
            self.gone = False


class Injector:
    """Carries planned faults out (see the module docstring); `injected` lists them."""

    def __init__(self, sim: Simulator, mic: Microphone) -> None:
        self.sim = sim
        self.mic = mic
        self.injected: list[Injected] = []
        self._armed: list[Injected] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def fire(self, step: Step) -> Injected:
        """Inject `step.fault` now."""
        kind = step.fault
        assert kind is not None
        now = time.monotonic()
        if kind is FaultKind.REFUSED:
            self.sim.refuse(step.refusals, "http" if step.refuse_mode == "http" else "unavailable")
            done = Injected(
                step.number, kind, now, f"the next {step.refusals} attempts, {step.refuse_mode}"
            )
            done.fired_at = now
        elif kind is FaultKind.MIC:
            done = Injected(step.number, kind, now, f"source gone for {step.mic_gone_s:g} s")
            done.fired_at = now
            task = asyncio.create_task(self.mic.unplug(step.mic_gone_s), name="soak-mic")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            fault = self._fault(kind, step)
            struck = self.sim.strike(fault)
            if struck:
                done = Injected(step.number, kind, now, "struck on the open connection")
                done.fired_at = now
            else:
                self.sim.inject(fault)
                done = Injected(step.number, kind, now, "armed for the next connection")
                self._armed.append(done)
        self.injected.append(done)
        log.info("fault: %s", done.line())
        return done

    @staticmethod
    def _fault(kind: FaultKind, step: Step) -> Fault:
        when = When(Moment.READY)  # when armed: right after the next setupComplete
        action = SIM_ACTIONS[kind]
        if kind is FaultKind.INTERNAL:
            return Fault(action, when, 1011, INTERNAL_ERROR)
        if kind is FaultKind.GOAWAY:
            return Fault(action, when, time_left_s=step.goaway_s)
        return Fault(action, when)

    def settle(self) -> None:
        """Match armed faults with the simulator's firings at `ready`, in order."""
        # Each armed fault fires once, in the order armed (several pending ones on the same
        # connection, in list order): the Nth firing at `ready` is the Nth fault armed.
        fired = [f for f in self.sim.firings if f.detail.endswith("@ready")]
        for firing, injected in zip(fired, self._armed, strict=False):
            injected.fired_at = firing.at

    async def close(self) -> None:
        """Wait for a microphone still unplugged to come back."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
