"""The daemon as a process, started the way systemd starts it, for whole-loop tests.

    setup = DaemonSetup.make(tmp_path, endpoint=sim.url, alsa_config=rt.alsa_config,
                             settings={"trigger": {"mode": "voice"}})
    daemon = await daemons.start(setup)            # the `daemons` fixture stops it at teardown
    await daemon.wait_ready()                      # the control socket answers `ctl status`
    result = await daemon.ctl("press")            # `edgevoice ctl press --config ...`
    await daemon.wait_for_line(r"turn \\d+ ended")  # a stderr log line (a regex)
    await daemon.stop()                            # SIGTERM; asserts exit 0, no traceback

The environment is systemd's, as far as a test can give it (systemd/edgevoice.service):
ALSA_CONFIG_PATH to the test's devices, the API key as the credential `gemini-api-key` in
CREDENTIALS_DIRECTORY (never in the environment), RUNTIME_DIRECTORY and STATE_DIRECTORY in the
test's tmp dir (the config's paths.* point there too), PYTHONUNBUFFERED=1, UMask 0077, a
minimal PATH, HOME in tmp, and no INVOCATION_ID or JOURNAL_STREAM (so `log.target = "auto"`
logs to stderr, which the test reads). Nothing else of the test's environment leaks in.

Everything waits on the event loop (asyncio subprocesses), so the simulator running in the
test's loop keeps serving while the test waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

EDGEVOICE = str(Path(sys.executable).with_name("edgevoice"))
TEST_KEY = "e2e-test-key-0123456789"  # what the daemon presents to the simulator
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_TIMEOUT_S = 15.0


def toml_value(value: Any) -> str:
    """A TOML literal for the simple values a test config holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_text(settings: Mapping[str, Mapping[str, Any]]) -> str:
    """Sections of key = value; a list of dicts becomes an array of tables ([[section.key]])."""
    lines: list[str] = []
    for section, values in settings.items():
        tables = {k: v for k, v in values.items() if _is_table_array(v)}
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items() if k not in tables]
        for key, items in tables.items():
            for item in items:
                lines.append(f"\n[[{section}.{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in item.items()]
        lines.append("")
    return "\n".join(lines)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], dict)


def merge(base: dict[str, dict[str, Any]], extra: Mapping[str, Mapping[str, Any]]) -> None:
    for section, values in extra.items():
        base.setdefault(section, {}).update(values)


@dataclass
class DaemonSetup:
    """Files and environment for one daemon: config, credential, state and runtime dirs."""

    directory: Path
    config_path: Path
    state_dir: Path
    runtime_dir: Path
    credentials_dir: Path
    alsa_config: Path | None
    settings: dict[str, dict[str, Any]]
    key: str = TEST_KEY

    @classmethod
    def make(
        cls,
        directory: Path,
        *,
        endpoint: str,
        alsa_config: Path | None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        key: str = TEST_KEY,
    ) -> DaemonSetup:
        """Write a config for a simulator at `endpoint` (its base URL) and the test's devices
        (`pcm.mic`, `pcm.spk`), plus `settings` ({section: {key: value}}) on top."""
        directory.mkdir(parents=True, exist_ok=True)
        state, runtime, creds = (directory / n for n in ("state", "runtime", "credentials"))
        for d in (state, runtime, creds):
            d.mkdir(mode=0o700, exist_ok=True)
        (creds / "gemini-api-key").write_text(key + "\n")
        (creds / "gemini-api-key").chmod(0o400)
        base: dict[str, dict[str, Any]] = {
            "live": {"endpoint": endpoint},
            "audio": {"input_device": "mic", "output_device": "spk"},
            "paths": {"state_dir": str(state), "runtime_dir": str(runtime)},
            "log": {"level": "debug", "target": "auto"},
        }
        merge(base, settings or {})
        setup = cls(
            directory, directory / "edgevoice.toml", state, runtime, creds, alsa_config, base, key
        )
        setup.write()
        return setup

    def write(self) -> None:
        self.config_path.write_text(toml_text(self.settings))

    @property
    def socket_path(self) -> Path:
        return self.runtime_dir / "control.sock"

    def env(self) -> dict[str, str]:
        """The environment systemd gives the unit (minus INVOCATION_ID: logs go to stderr)."""
        env = {
            "PATH": SYSTEMD_PATH,
            "LANG": "C.UTF-8",
            "HOME": str(self.directory),
            "PYTHONUNBUFFERED": "1",
            "CREDENTIALS_DIRECTORY": str(self.credentials_dir),
            "RUNTIME_DIRECTORY": str(self.runtime_dir),
            "STATE_DIRECTORY": str(self.state_dir),
        }
        if self.alsa_config is not None:
            env["ALSA_CONFIG_PATH"] = str(self.alsa_config)
        return env


@dataclass
class CtlResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def run_command(
    argv: list[str], env: Mapping[str, str], timeout_s: float = 30.0, stdin: bytes | None = None
) -> CtlResult:
    """Run a short command without blocking the event loop; a hang guard kills it by PID."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise TimeoutError(f"{' '.join(argv)} did not finish in {timeout_s:g} s") from None
    assert process.returncode is not None
    return CtlResult(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def socket_request(
    path: Path, body: Mapping[str, Any] | bytes, timeout_s: float = 10.0
) -> Any:
    """One line on a control socket, straight; the parsed reply, or None when the daemon
    closed the connection without one. Raises OSError when nobody listens."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        line = body if isinstance(body, bytes) else json.dumps(body).encode() + b"\n"
        writer.write(line)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readline(), timeout_s)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return json.loads(reply) if reply else None


@dataclass
class DaemonProcess:
    """`edgevoice run --config ...` as a child process; its stderr lines kept in `lines`."""

    setup: DaemonSetup
    extra_args: tuple[str, ...] = ()
    process: asyncio.subprocess.Process | None = None
    lines: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)
    _new_line: asyncio.Event = field(default_factory=asyncio.Event)
    returncode: int | None = None

    async def start(self) -> DaemonProcess:
        self.process = await asyncio.create_subprocess_exec(
            EDGEVOICE, "run", "--config", str(self.setup.config_path), *self.extra_args,
            env=self.setup.env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            umask=0o077,  # UMask=0077 in the unit
            start_new_session=True,  # its own process group, like a service
        )  # fmt: skip
        assert self.process.stderr is not None and self.process.stdout is not None
        self._readers = [
            asyncio.create_task(self._read(self.process.stderr, self.lines)),
            asyncio.create_task(self._read(self.process.stdout, self.stdout)),
        ]
        return self

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode(errors="replace").rstrip("\n"))
            self._new_line.set()
        self._new_line.set()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    def lines_matching(self, pattern: str, start: int = 0) -> list[str]:
        rx = re.compile(pattern)
        return [line for line in self.lines[start:] if rx.search(line)]

    async def wait_for_line(self, pattern: str, timeout_s: float = 20.0, start: int = 0) -> str:
        """The first stderr line from index `start` on that matches the regex `pattern`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        seen = start
        while True:
            for line in self.lines[seen:]:
                if rx.search(line):
                    return line
            seen = max(seen, len(self.lines))
            if not self.running and all(r.done() for r in self._readers):
                raise AssertionError(
                    f"daemon exited ({self.process and self.process.returncode}) before a line "
                    f"matching {pattern!r}; its log:\n{self.log()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no log line matching {pattern!r}; its log:\n{self.log()}")
            self._new_line.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_line.wait(), min(remaining, 0.5))

    async def ctl(
        self, *args: str, timeout_s: float = 20.0, stdin: bytes | None = None
    ) -> CtlResult:
        """`edgevoice ctl ARGS --config <the daemon's>` with the service's environment."""
        argv = [EDGEVOICE, "ctl", "--config", str(self.setup.config_path), *args]
        return await run_command(argv, self.setup.env(), timeout_s, stdin)

    async def wait_ready(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait until the control socket answers a status request; returns that status.

        Asks on the socket itself (the protocol `edgevoice ctl` speaks): a ctl process per
        poll would cost a Python start-up each time.
        """
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            if not self.running:
                await self._drain()
                raise AssertionError(
                    f"daemon exited with {self.returncode} before it was ready; its log:\n"
                    f"{self.log()}"
                )
            if self.setup.socket_path.exists():
                try:
                    last = await socket_request(self.setup.socket_path, {"cmd": "status"})
                except OSError as exc:
                    last = exc
                if isinstance(last, dict) and last.get("ok") is True:
                    return last
            await asyncio.sleep(0.05)
        raise AssertionError(f"control socket never answered ({last!r}); log:\n{self.log()}")

    async def status(self) -> dict[str, Any]:
        result = await self.ctl("status", "--json")
        assert result.returncode == 0, result
        status: dict[str, Any] = result.json()
        return status

    async def _drain(self) -> None:
        assert self.process is not None
        self.returncode = await self.process.wait()
        for reader in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send `sig` (SIGTERM: what systemctl stop sends) and wait for the exit; asserts a
        clean stop: status 0 and no traceback in the log."""
        code = await self.terminate(sig, timeout_s)
        assert code == 0, f"daemon exited {code} on {signal.Signals(sig).name}; log:\n{self.log()}"
        self.assert_no_traceback()
        return code

    async def terminate(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send `sig` and wait; SIGKILL after `timeout_s` (then AssertionError). The exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                self.kill()
                await self._drain()
                raise AssertionError(
                    f"daemon ignored {signal.Signals(sig).name} for {timeout_s:g} s; log:\n"
                    f"{self.log()}"
                ) from None
        await self._drain()
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the daemon's process group (it has its own: start_new_session)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def assert_no_traceback(self) -> None:
        text = "\n".join(self.lines + self.stdout)
        assert "Traceback" not in text, f"a traceback in the daemon's output:\n{text[-4000:]}"


class Daemons:
    """Starts daemons for one test and kills any still running at teardown."""

    def __init__(self) -> None:
        self.started: list[DaemonProcess] = []

    async def start(self, setup: DaemonSetup, *extra_args: str) -> DaemonProcess:
        daemon = DaemonProcess(setup, tuple(extra_args))
        self.started.append(daemon)
        return await daemon.start()

    async def close(self) -> None:
        for daemon in self.started:
            if daemon.running:
                daemon.kill()
                with contextlib.suppress(Exception):
                    await daemon._drain()


@pytest.fixture
async def daemons() -> AsyncIterator[Daemons]:
    """`await daemons.start(setup)`; every daemon still running at the end is killed."""
    pool = Daemons()
    try:
        yield pool
    finally:
        await pool.close()
