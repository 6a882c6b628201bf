"""The daemon as a process, started the way systemd starts it.

    setup = DaemonSetup.make(directory, endpoint=sim.url, alsa_config=server.alsa_config,
                             settings={"trigger": {"mode": "voice"}})
    daemon = await DaemonProcess(setup).start()
    await daemon.wait_ready()                      # the control socket answers a status request
    result = await daemon.ctl("press")             # `edgevoice ctl press --config ...`
    await daemon.wait_for_line(r"turn \\d+ ended")  # a stderr log line (a regex)
    await daemon.stop()                            # SIGTERM; DaemonError unless exit 0, clean

The environment is systemd's, as far as a user process can give it (deploy/edgevoice.service):
ALSA_CONFIG_PATH to the rig's devices, the API key as the credential `gemini-api-key` in
CREDENTIALS_DIRECTORY (never in the environment or on a command line), RUNTIME_DIRECTORY and
STATE_DIRECTORY in the setup's directory (the config's paths.* point there too), NOTIFY_SOCKET
bound by the rig (`daemon.notify` has every READY=1 / STATUS= datagram), PYTHONUNBUFFERED=1,
UMask 0077, a minimal PATH, HOME in the directory, and no INVOCATION_ID or JOURNAL_STREAM (so
`log.target = "auto"` logs to stderr, which the rig reads into `daemon.lines`). Nothing else of
the caller's environment leaks in.

The daemon runs in its own process group and dies with the rig (processes.spawn_async).
Everything waits on the event loop, so a simulator in the same loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevoice.rig.host import RigError
from edgevoice.rig.notify import Notification, NotifyListener
from edgevoice.rig.processes import edgevoice_command, forget, signal_group, spawn_async

SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_TIMEOUT_S = 15.0
READY_POLL_S = 0.05
KEEP_LOG_LINES = 60  # the daemon's last lines in an error message
# Every earcon off: what the speaker records is then the answers alone (demo, bench, soak).
EARCONS_OFF: dict[str, bool] = {
    "listen_start": False,
    "listen_end": False,
    "error": False,
    "offline": False,
    "limit": False,
}


class DaemonError(RigError):
    """The daemon did not do what the rig waited for (exited, never ready, unclean stop).

    `summary` is one line (what happened); the message adds the daemon's last log lines.
    """

    def __init__(self, summary: str, log: str = "") -> None:
        self.summary = summary
        self.log = log
        super().__init__(f"{summary}; its log:\n{log}" if log else summary)


def toml_value(value: Any) -> str:
    """A TOML literal for the simple values a config holds (bool, number, string, list)."""
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
    """Put `extra`'s keys on top of `base`, section by section."""
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
    key: str = field(repr=False, default="")
    notify_socket: Path | None = None

    @classmethod
    def make(
        cls,
        directory: Path,
        *,
        endpoint: str,
        alsa_config: Path | None,
        key: str,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        notify: bool = True,
    ) -> DaemonSetup:
        """Write a config for the Live endpoint `endpoint` (its base URL) and the rig's devices
        (`pcm.mic`, `pcm.spk`), plus `settings` ({section: {key: value}}) on top, and the key
        as a credential file (mode 0400). With `notify`, the daemon gets a NOTIFY_SOCKET."""
        directory.mkdir(parents=True, exist_ok=True)
        state, runtime, creds = (directory / n for n in ("state", "runtime", "credentials"))
        for d in (state, runtime, creds):
            d.mkdir(mode=0o700, exist_ok=True)
        credential = creds / "gemini-api-key"
        with contextlib.suppress(FileNotFoundError):
            credential.chmod(0o600)
        credential.write_text(key + "\n")
        credential.chmod(0o400)
        base: dict[str, dict[str, Any]] = {
            "live": {"endpoint": endpoint},
            "audio": {"input_device": "mic", "output_device": "spk"},
            "paths": {"state_dir": str(state), "runtime_dir": str(runtime)},
            "log": {"level": "debug", "target": "auto"},
        }
        merge(base, settings or {})
        setup = cls(
            directory,
            directory / "edgevoice.toml",
            state,
            runtime,
            creds,
            alsa_config,
            base,
            key,
            directory / "notify" if notify else None,
        )
        setup.write()
        return setup

    def write(self) -> None:
        self.config_path.write_text(toml_text(self.settings))

    @property
    def socket_path(self) -> Path:
        """The daemon's control socket."""
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
        if self.notify_socket is not None:
            env["NOTIFY_SOCKET"] = str(self.notify_socket)
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
    """Run a short command without blocking the event loop; a hang guard kills its group.
    Raises TimeoutError past `timeout_s`."""
    process = await spawn_async(argv, env=env, stdin_pipe=stdin is not None)
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    except TimeoutError:
        signal_group(process.pid, signal.SIGKILL)
        await process.wait()
        raise TimeoutError(f"{' '.join(argv)} did not finish in {timeout_s:g} s") from None
    finally:
        if process.returncode is not None:
            forget(process.pid)
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


LineCallback = Callable[[str], None]


@dataclass
class DaemonProcess:
    """`edgevoice run --config ...` as a child process; its stderr lines kept in `lines`, its
    notify datagrams in `notify.notifications`.

    `on_line` is called with each stderr line as it arrives, `on_notification` with each
    datagram (both on the event loop).
    """

    setup: DaemonSetup
    extra_args: tuple[str, ...] = ()
    on_line: LineCallback | None = None
    on_notification: Callable[[Notification], None] | None = None
    process: asyncio.subprocess.Process | None = None
    notify: NotifyListener | None = None
    lines: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    started_at: float | None = None  # time.monotonic() just before the process started
    returncode: int | None = None
    _readers: list[asyncio.Task[None]] = field(default_factory=list)
    _new_line: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> DaemonProcess:
        """Start the daemon (and bind its notify socket first). Returns at once."""
        if self.setup.notify_socket is not None:
            self.notify = NotifyListener(self.setup.notify_socket, self.on_notification)
            await self.notify.open()
        self.started_at = time.monotonic()
        try:
            self.process = await spawn_async(
                [*edgevoice_command(), "run", "--config", str(self.setup.config_path),
                 *self.extra_args],
                env=self.setup.env(),
                umask=0o077,  # UMask=0077 in the unit
            )  # fmt: skip
        except BaseException:
            self._close_notify()
            raise
        assert self.process.stderr is not None and self.process.stdout is not None
        self._readers = [
            asyncio.create_task(self._read(self.process.stderr, self.lines, self.on_line)),
            asyncio.create_task(self._read(self.process.stdout, self.stdout, None)),
        ]
        return self

    async def _read(
        self, stream: asyncio.StreamReader, into: list[str], callback: LineCallback | None
    ) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the stream's limit: keep what fits
                line = b"(a line too long to keep)\n"
            if not line:
                break
            text = line.decode(errors="replace").rstrip("\n")
            into.append(text)
            self._new_line.set()
            if callback is not None:
                callback(text)
        self._new_line.set()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DaemonError("the daemon has not been started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self) -> str:
        """Its last stderr lines, for an error message."""
        return "\n".join(self.lines[-KEEP_LOG_LINES:])

    def lines_matching(self, pattern: str, start: int = 0) -> list[str]:
        rx = re.compile(pattern)
        return [line for line in self.lines[start:] if rx.search(line)]

    async def wait_for_line(self, pattern: str, timeout_s: float = 20.0, start: int = 0) -> str:
        """The first stderr line from index `start` on that matches the regex `pattern`.
        Raises DaemonError when the daemon exits first or nothing matches in `timeout_s`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        seen = start
        while True:
            for line in self.lines[seen:]:
                if rx.search(line):
                    return line
            seen = max(seen, len(self.lines))
            if not self.running and all(r.done() for r in self._readers):
                raise DaemonError(
                    f"daemon exited ({self.process and self.process.returncode}) before a line "
                    f"matching {pattern!r}",
                    self.log(),
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DaemonError(f"no log line matching {pattern!r}", self.log())
            self._new_line.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_line.wait(), min(remaining, 0.5))

    async def ctl(
        self, *args: str, timeout_s: float = 20.0, stdin: bytes | None = None
    ) -> CtlResult:
        """`edgevoice ctl ARGS --config <the daemon's>` with the service's environment."""
        argv = [*edgevoice_command(), "ctl", "--config", str(self.setup.config_path), *args]
        return await run_command(argv, self.setup.env(), timeout_s, stdin)

    async def request(self, body: Mapping[str, Any] | bytes, timeout_s: float = 10.0) -> Any:
        """One line on the control socket, straight (see socket_request)."""
        return await socket_request(self.setup.socket_path, body, timeout_s)

    async def wait_ready(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait until the control socket answers a status request; returns that status.
        Raises DaemonError when the daemon exits first or does not answer in `timeout_s`.

        Asks on the socket itself (the protocol `edgevoice ctl` speaks): a ctl process per
        poll would cost a Python start-up each time.
        """
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            if not self.running:
                await self._drain()
                raise DaemonError(
                    f"daemon exited with {self.returncode} before it was ready", self.log()
                )
            if self.setup.socket_path.exists():
                try:
                    last = await self.request({"cmd": "status"})
                except OSError as exc:
                    last = exc
                if isinstance(last, dict) and last.get("ok") is True:
                    return last
            await asyncio.sleep(READY_POLL_S)
        raise DaemonError(f"control socket never answered ({last!r})", self.log())

    async def status(self) -> dict[str, Any]:
        """`edgevoice ctl status --json`, parsed. Raises DaemonError when ctl fails."""
        result = await self.ctl("status", "--json")
        if result.returncode != 0:
            raise DaemonError(f"ctl status failed: {result.stderr.strip()}")
        status: dict[str, Any] = result.json()
        return status

    async def _drain(self) -> None:
        assert self.process is not None
        self.returncode = await self.process.wait()
        forget(self.process.pid)
        for reader in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._close_notify()

    def _close_notify(self) -> None:
        if self.notify is not None:
            self.notify.close()

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send `sig` (SIGTERM: what systemctl stop sends) and wait for the exit. Raises
        DaemonError unless the stop was clean: status 0 and no traceback in the log."""
        code = await self.terminate(sig, timeout_s)
        if code != 0:
            raise DaemonError(f"daemon exited {code} on {signal.Signals(sig).name}", self.log())
        self.assert_no_traceback()
        return code

    async def terminate(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send `sig` and wait; SIGKILL after `timeout_s` (then DaemonError). The exit code."""
        if self.process is None:
            raise DaemonError("the daemon has not been started")
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                self.kill()
                await self._drain()
                raise DaemonError(
                    f"daemon ignored {signal.Signals(sig).name} for {timeout_s:g} s", self.log()
                ) from None
        await self._drain()
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the daemon's process group (it has its own, like a service)."""
        if self.process is not None and self.process.returncode is None:
            signal_group(self.process.pid, signal.SIGKILL)

    def tracebacks(self) -> bool:
        return "Traceback" in "\n".join(self.lines + self.stdout)

    def assert_no_traceback(self) -> None:
        """DaemonError when the daemon printed a traceback."""
        if self.tracebacks():
            text = "\n".join(self.lines + self.stdout)
            raise DaemonError("a traceback in the daemon's output", text[-4000:])


class Daemons:
    """Starts daemons and kills any still running at `close()`."""

    def __init__(self) -> None:
        self.started: list[DaemonProcess] = []

    async def start(self, setup: DaemonSetup, *extra_args: str) -> DaemonProcess:
        daemon = DaemonProcess(setup, tuple(extra_args))
        self.started.append(daemon)
        return await daemon.start()

    async def close(self) -> None:
        for daemon in self.started:
            if daemon.process is not None and daemon.returncode is None:
                daemon.kill()
                with contextlib.suppress(Exception):
                    await daemon._drain()
