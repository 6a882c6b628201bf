"""sd_notify through the daemon: `edgevoice run` as a process with `$NOTIFY_SOCKET` pointing at a
real datagram socket the test reads, as systemd's manager would. READY=1 once the devices are
open, STATUS= in plain words on every change, WATCHDOG=1 while capture frames arrive (and not
when the microphone goes silent), RELOADING=1/READY=1 on SIGHUP (a bad config refused, a fixed
key clearing needs-attention), STOPPING=1 on SIGTERM and a clean exit within the unit's
TimeoutStopSec."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from daemonkit import DaemonProcess, Daemons, DaemonSetup

from edgevoice.sim import SimOptions, run_simulator

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "edgevoice.service"
QUIET = {"listen_start": False, "listen_end": False, "error": False, "offline": False}
HANG_GUARD = 30.0


@dataclass
class Datagram:
    at: float  # time.monotonic() when it was read
    lines: list[str]


@dataclass
class Manager:
    """The service manager's end of the notify socket: every datagram, as it comes."""

    sock: socket.socket
    path: str
    got: list[Datagram] = field(default_factory=list)
    _new: asyncio.Event = field(default_factory=asyncio.Event)

    async def collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.sock, 65536)
            self.got.append(Datagram(time.monotonic(), data.decode().split("\n")))
            self._new.set()

    async def wait_for(self, predicate: Any, start: int = 0, timeout_s: float = HANG_GUARD) -> int:
        """The index of the first datagram from `start` on whose lines satisfy `predicate`."""
        deadline = time.monotonic() + timeout_s
        while True:
            for index in range(start, len(self.got)):
                if predicate(self.got[index].lines):
                    return index
            if time.monotonic() > deadline:
                shown = "\n".join(" | ".join(d.lines) for d in self.got[-30:])
                raise AssertionError(f"no such notify message; the last ones:\n{shown}")
            self._new.clear()
            try:
                async with asyncio.timeout(0.2):
                    await self._new.wait()
            except TimeoutError:
                pass

    def statuses(self, start: int = 0) -> list[str]:
        return [
            line.removeprefix("STATUS=")
            for d in self.got[start:]
            for line in d.lines
            if line.startswith("STATUS=")
        ]

    def pings(self, since: float = 0.0) -> list[float]:
        return [d.at for d in self.got if d.at >= since and "WATCHDOG=1" in d.lines]


@pytest.fixture
async def manager() -> AsyncIterator[Manager]:
    directory = tempfile.mkdtemp(prefix="evn")  # short: a Unix socket path has 108 bytes
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    result = Manager(sock, path)
    task = asyncio.create_task(result.collect())
    try:
        yield result
    finally:
        task.cancel()
        sock.close()
        os.unlink(path)
        os.rmdir(directory)


@dataclass
class ServiceSetup(DaemonSetup):
    """DaemonSetup plus what systemd adds for Type=notify with WatchdogSec=."""

    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra_env}


def service_setup(
    directory: Path,
    manager: Manager,
    endpoint: str,
    alsa_config: Path,
    *,
    watchdog_usec: int | None = None,
    settings: dict[str, dict[str, Any]] | None = None,
    key: str = "e2e-test-key-0123456789",
) -> ServiceSetup:
    base = DaemonSetup.make(
        directory,
        endpoint=endpoint,
        alsa_config=alsa_config,
        settings={"earcons": QUIET, **(settings or {})},
        key=key,
    )
    extra = {"NOTIFY_SOCKET": manager.path}
    if watchdog_usec is not None:
        extra["WATCHDOG_USEC"] = str(watchdog_usec)
    return ServiceSetup(**vars(base), extra_env=extra)


def unit_seconds(key: str) -> float:
    (line,) = [ln for ln in UNIT.read_text().splitlines() if ln.startswith(f"{key}=")]
    value = line.split("=", 1)[1]
    assert value.endswith("s"), value
    return float(value[:-1])


@pytest.fixture
def usb_microphone(rt_audio: Any, tmp_path: Path) -> Iterator[Any]:
    """A microphone on a PulseAudio server of its own (suspending its sink silences it)."""
    import rtkit

    server = rtkit.PulseServer(tmp_path / "usb")
    server.directory.mkdir()
    server.start()
    config = tmp_path / "asound-usb.conf"
    config.write_text(
        rt_audio.alsa_config.read_text()
        + f'pcm.usbmic {{ type pulse server "{server.server}" device "micsink.monitor" }}\n'
    )
    try:
        yield server, config
    finally:
        server.stop()


async def test_ready_status_and_a_watchdog_that_stops_when_capture_stalls(
    manager: Manager, daemons: Daemons, usb_microphone: Any, tmp_path: Path
) -> None:
    server, alsa_config = usb_microphone
    async with run_simulator(SimOptions(pace=0, lifetime_s=None)) as sim:
        setup = service_setup(
            tmp_path / "daemon",
            manager,
            sim.url,
            alsa_config,
            watchdog_usec=2_000_000,  # ping every second
            settings={"audio": {"input_device": "usbmic", "output_device": "spk"}},
        )
        daemon = await daemons.start(setup)
        ready = await manager.wait_for(lambda lines: "READY=1" in lines)
        assert "STATUS=Idle" in manager.got[ready].lines  # both devices open, no network yet
        assert len(sim.connections) == 0
        await daemon.wait_ready()
        first = await manager.wait_for(lambda lines: lines == ["WATCHDOG=1"], ready)
        await manager.wait_for(lambda lines: lines == ["WATCHDOG=1"], first + 1)
        # A turn: STATUS follows what the device does, in plain words.
        mark = len(manager.got)
        assert (await daemon.ctl("say", "Hello there.")).returncode == 0
        await manager.wait_for(lambda lines: "STATUS=Speaking" in lines, mark)
        await manager.wait_for(lambda lines: "STATUS=Idle" in lines, mark)
        statuses = manager.statuses(mark)
        order = [s for s in statuses if s in ("Connecting", "Thinking", "Speaking", "Idle")]
        assert order.index("Connecting") < order.index("Thinking") < order.index("Speaking")
        assert order[-1] == "Idle"
        # The microphone goes silent (its sink suspended: no error, no frames): no more pings.
        server.pactl("suspend-sink", "micsink", "1")
        silenced = time.monotonic()
        line = await daemon.wait_for_line(r"no capture frames for", timeout_s=HANG_GUARD)
        assert "systemd restarts edgevoice" in line
        quiet_from = time.monotonic()
        await asyncio.sleep(3.0)  # three watchdog intervals
        assert manager.pings(since=quiet_from) == []
        assert manager.pings(since=silenced + 2.5) == []
        # It comes back: so do the pings.
        server.pactl("suspend-sink", "micsink", "0")
        back = len(manager.got)
        await manager.wait_for(lambda lines: lines == ["WATCHDOG=1"], back)
        # Unplugged (it cannot even be opened): a known state edgevoice works on itself; the
        # watchdog stays fed while it looks for the microphone, so no restart loop.
        server.stop()
        start = len(daemon.lines)
        await daemon.wait_for_line(r"microphone unavailable", start=start)
        gone = len(manager.got)
        await manager.wait_for(
            lambda lines: "STATUS=Idle; Microphone unavailable, retrying" in lines
        )
        first = await manager.wait_for(lambda lines: lines == ["WATCHDOG=1"], gone)
        await manager.wait_for(lambda lines: lines == ["WATCHDOG=1"], first + 1)
        await daemon.stop()


async def test_sighup_reloads_and_a_bad_config_keeps_the_old_one(
    manager: Manager, daemons: Daemons, rt_audio: Any, tmp_path: Path
) -> None:
    async with run_simulator(SimOptions(pace=0, lifetime_s=None)) as sim:
        setup = service_setup(tmp_path / "daemon", manager, sim.url, rt_audio.alsa_config)
        daemon: DaemonProcess = await daemons.start(setup)
        await manager.wait_for(lambda lines: "READY=1" in lines)
        await daemon.wait_ready()
        # A good reload: RELOADING=1 with when it began, then READY=1 from the new daemon.
        mark = len(manager.got)
        before = time.monotonic_ns() // 1000
        os.kill(daemon.pid, signal.SIGHUP)
        reloading = await manager.wait_for(lambda lines: "RELOADING=1" in lines, mark)
        lines = manager.got[reloading].lines
        (usec,) = [ln for ln in lines if ln.startswith("MONOTONIC_USEC=")]
        assert before <= int(usec.removeprefix("MONOTONIC_USEC=")) <= time.monotonic_ns() // 1000
        await manager.wait_for(lambda lines: "READY=1" in lines, reloading)
        await daemon.wait_for_line(r"running with the reloaded configuration")
        await daemon.wait_ready()
        assert (await daemon.ctl("say", "Still listening?")).returncode == 0
        await sim.wait_for(lambda e: e.kind == "turn", timeout_s=HANG_GUARD)
        # A bad one: refused, the running one stays, the journal names the key.
        good_text = setup.config_path.read_text()
        setup.config_path.write_text(good_text + "\n[limits]\nmax_turn_s = 1\n")
        mark = len(manager.got)
        os.kill(daemon.pid, signal.SIGHUP)
        reloading = await manager.wait_for(lambda lines: "RELOADING=1" in lines, mark)
        done = await manager.wait_for(lambda lines: "READY=1" in lines, reloading)
        assert any("reload was refused" in ln for ln in manager.got[done].lines)
        refused = await daemon.wait_for_line(r"reload refused")
        assert "limits.max_turn_s" in refused and "Traceback" not in refused
        setup.config_path.write_text(good_text)  # `edgevoice ctl` reads the file too
        status = await daemon.status()
        assert status["state"] in ("idle", "speaking", "thinking")
        await daemon.stop()


async def test_a_reload_clears_needs_attention_once_the_key_is_fixed(
    manager: Manager, daemons: Daemons, rt_audio: Any, tmp_path: Path
) -> None:
    good = "the-right-key-0123456789"
    sim_options = SimOptions(pace=0, lifetime_s=None, api_keys=frozenset({good}))
    async with run_simulator(sim_options) as sim:
        setup = service_setup(
            tmp_path / "daemon", manager, sim.url, rt_audio.alsa_config, key="a-wrong-key-98765"
        )
        daemon = await daemons.start(setup)
        await daemon.wait_ready()
        mark = len(manager.got)
        await daemon.ctl("say", "Hello?")
        await manager.wait_for(
            lambda lines: "STATUS=Needs attention: API key refused" in lines, mark
        )
        line = await daemon.wait_for_line(r"needs attention: API key refused")
        assert "systemctl reload edgevoice" in line  # the fix, in the same line
        key_file = setup.credentials_dir / "gemini-api-key"
        key_file.chmod(0o600)
        key_file.write_text(good + "\n")
        mark = len(manager.got)
        os.kill(daemon.pid, signal.SIGHUP)
        await manager.wait_for(lambda lines: "READY=1" in lines, mark)
        await daemon.wait_for_line(r"running with the reloaded configuration")
        await daemon.wait_ready()
        status = await daemon.status()
        assert status["needs_attention"] is None
        assert (await daemon.ctl("say", "Hello again?")).returncode == 0
        await sim.wait_for(lambda e: e.kind == "turn", timeout_s=HANG_GUARD)
        await daemon.stop()


async def test_sigterm_sends_stopping_and_exits_within_the_units_timeout(
    manager: Manager, daemons: Daemons, rt_audio: Any, tmp_path: Path
) -> None:
    async with run_simulator(SimOptions(pace=0, lifetime_s=None)) as sim:
        setup = service_setup(tmp_path / "daemon", manager, sim.url, rt_audio.alsa_config)
        daemon = await daemons.start(setup)
        await daemon.wait_ready()
        await daemon.ctl("say", "Keep the connection open.")
        await sim.wait_for(lambda e: e.kind == "turn", timeout_s=HANG_GUARD)
        mark = len(manager.got)
        code = await daemon.terminate(signal.SIGTERM, timeout_s=unit_seconds("TimeoutStopSec"))
        assert code == 0
        stopping = await manager.wait_for(lambda lines: "STOPPING=1" in lines, mark, 1.0)
        assert manager.got[stopping].lines[0] == "STOPPING=1"
        daemon.assert_no_traceback()
        closed = await sim.wait_closed(1, timeout_s=1.0)
        assert closed.closed_by == "client" and closed.code == 1000
        saved = (setup.state_dir / "state.json").read_text()
        assert re.search(r'"resumption": \{"handle": "[^"]+"', saved)  # the handle was written
