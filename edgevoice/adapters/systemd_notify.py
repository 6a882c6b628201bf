"""The service manager's notify socket (sd_notify): `SystemdNotifier`, a `ports.ServiceNotifier`.

Under systemd (`Type=notify`), the service tells the manager how it is doing by sending
datagrams of `KEY=value` lines to the AF_UNIX socket named by `$NOTIFY_SOCKET`:

- `READY=1`: start-up is done (config valid, audio devices open; not waiting for the network).
- `STATUS=<one line>`: what `systemctl status edgevoice` shows ("Listening", "Reconnecting in
  4 s (attempt 3): connection refused", "Needs attention: the API key was rejected").
- `RELOADING=1` with `MONOTONIC_USEC=<now>`: a reload (SIGHUP) has begun; `READY=1` ends it.
- `STOPPING=1`: shutdown has begun.
- `WATCHDOG=1`: the daemon is alive. With `WatchdogSec=` in the unit, systemd sets
  `$WATCHDOG_USEC` (and `$WATCHDOG_PID`) and restarts a service whose pings stop for that
  long; `watchdog_interval()` is the period to ping at (half of it). Which condition allows a
  ping (capture frames still arriving) is the supervisor's policy, not this module's.

Off systemd (`$NOTIFY_SOCKET` unset or empty) every method does nothing, so the same daemon
runs in a terminal, in tests and on the device. Nothing here ever raises: a notify socket that
is missing, refuses the datagram or is full is logged once (per kind of failure) and then
ignored; the device keeps working without its service manager's view of it.

Written against the protocol (sd_notify(3)), not libsystemd: python-systemd 235's `notify()`
raises when `$NOTIFY_SOCKET` names a missing path and reads the environment at each call. This
reads it once, at construction (inject `environ` in tests), handles the abstract namespace
(`@name`), and sends non-blocking, so a stuck manager can never stall the event loop. The
kernel attaches our pid to each datagram (the manager sets SO_PASSCRED), which is what
`NotifyAccess=main` checks.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from edgevoice.redact import printable

if TYPE_CHECKING:
    from edgevoice.ports import ServiceNotifier

log = logging.getLogger("edgevoice.systemd")

# The longest STATUS= text sent, in characters; `systemctl status` shows one line, and the
# whole datagram stays far below any socket buffer.
STATUS_LIMIT = 200


def _monotonic_usec() -> int:
    # CLOCK_MONOTONIC (what time.monotonic reads on Linux), the clock systemd compares
    # MONOTONIC_USEC= against (sd_notify(3)).
    return time.monotonic_ns() // 1000


def socket_address(value: str) -> str | bytes | None:
    """The address to send to for a `$NOTIFY_SOCKET` value, or None when it names none.

    An absolute path is a filesystem socket; `@name` is `name` in Linux's abstract namespace
    (a leading NUL byte). Anything else (a relative path, `vsock:`, which systemd 252 does not
    hand out) is not an address this facade can use.
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    return None


def watchdog_usec(environ: Mapping[str, str], pid: int) -> int | None:
    """`$WATCHDOG_USEC` when it applies to process `pid`, else None.

    systemd sets `$WATCHDOG_PID` to the main process: a child that inherited the variables
    (a token command, an operator tool) must not take the watchdog as its own.
    """
    raw = environ.get("WATCHDOG_USEC", "")
    if not raw:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner:
        try:
            if int(owner) != pid:
                return None
        except ValueError:
            return None
    try:
        usec = int(raw)
    except ValueError:
        return None
    return usec if usec > 0 else None


def one_line(text: str, limit: int = STATUS_LIMIT) -> str:
    """`text` as one STATUS= value: outside text escaped (a newline would start a new
    assignment in the datagram), surrounding blanks removed, cut to `limit` characters."""
    return printable(text.strip(), limit)


class SystemdNotifier:
    """Sends sd_notify messages to `$NOTIFY_SOCKET`; a no-op when it is not set.

    `environ` (default `os.environ`) is read once, here. `pid` (default `os.getpid()`) decides
    whether `$WATCHDOG_USEC` is ours. `monotonic_usec` gives MONOTONIC_USEC= for `reloading()`.
    Safe to call from any thread; every call returns at once.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        pid: int | None = None,
        monotonic_usec: Callable[[], int] = _monotonic_usec,
    ) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = socket_address(raw) if raw else None
        self._watchdog_usec = watchdog_usec(env, os.getpid() if pid is None else pid)
        self._monotonic_usec = monotonic_usec
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reported: set[str] = set()  # kinds of failure already logged
        self.sent = 0  # datagrams handed to the socket
        self.failed = 0  # datagrams that could not be sent
        if raw and self._address is None:
            log.warning(
                "NOTIFY_SOCKET=%s is not a socket path or @name; systemd notifications are off",
                printable(raw, 120),
            )

    @property
    def enabled(self) -> bool:
        """Whether a notify socket was given (we run under a service manager that listens)."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between `watchdog()` pings (half of `$WATCHDOG_USEC`, as sd_watchdog_enabled(3)
        advises), or None when the watchdog is off for this process or there is no socket."""
        if self._address is None or self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    # -- the ServiceNotifier port ------------------------------------------------------------

    def ready(self, status: str | None = None) -> None:
        """READY=1 (with STATUS= in the same datagram when `status` is given)."""
        self.send("READY=1", *self._status(status))

    def status(self, text: str) -> None:
        """STATUS=<text>, escaped and cut to one line."""
        self.send(*self._status(text))

    def reloading(self, status: str | None = None) -> None:
        """RELOADING=1 with MONOTONIC_USEC= (when the reload began); `ready()` ends it."""
        self.send("RELOADING=1", f"MONOTONIC_USEC={self._monotonic_usec()}", *self._status(status))

    def stopping(self, status: str | None = None) -> None:
        """STOPPING=1: shutdown has begun."""
        self.send("STOPPING=1", *self._status(status))

    def watchdog(self) -> None:
        """WATCHDOG=1: the daemon is alive (only when the watchdog is on for this process)."""
        if self._watchdog_usec is not None:
            self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> None:
        """EXTEND_TIMEOUT_USEC=: ask for `seconds` more to finish starting or stopping."""
        self.send(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def close(self) -> None:
        """Release the socket. Later calls reopen it. Never raises; safe twice."""
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    # -- sending -----------------------------------------------------------------------------

    @staticmethod
    def _status(text: str | None) -> tuple[str, ...]:
        return () if text is None else (f"STATUS={one_line(text)}",)

    def send(self, *assignments: str) -> bool:
        """Send `KEY=value` assignments as one datagram; True when it went out.

        Each assignment must be one line (the caller's own constants, or text through
        `one_line`); one holding a newline is refused (logged), never sent, because it would
        smuggle in an assignment of its own.
        """
        address = self._address
        if address is None or not assignments:
            return False
        if any("\n" in a or "=" not in a for a in assignments):
            self._report("malformed", "a notify message with a line break was not sent (a bug)")
            return False
        data = "\n".join(assignments).encode("utf-8", "backslashreplace")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.sendto(data, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL, address)
            except OSError as error:
                self.failed += 1
                kind = errno.errorcode.get(error.errno or 0, "error")
                self._report(kind, self._explain(error))
                return False
            self.sent += 1
            return True

    def _explain(self, error: OSError) -> str:
        where = self._shown_address()
        if error.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return f"nobody listens on the notify socket {where}; systemd notifications are lost"
        if error.errno in (errno.EAGAIN, errno.ENOBUFS):
            return f"the notify socket {where} is full; a notification was dropped"
        if error.errno == errno.EACCES:
            return f"no permission to write to the notify socket {where}"
        return f"cannot send to the notify socket {where}: {error.strerror or error}"

    def _shown_address(self) -> str:
        address = self._address
        if isinstance(address, bytes):
            return "@" + printable(os.fsdecode(address[1:]), 120)
        return printable(address or "", 120)

    def _report(self, kind: str, message: str) -> None:
        """Log a kind of failure the first time only (a loop pinging a dead socket every 15 s
        must not fill the journal)."""
        if kind in self._reported:
            return
        self._reported.add(kind)
        log.warning("%s (further failures like this are not logged)", message)


class NullNotifier:
    """A `ports.ServiceNotifier` that does nothing: for code paths that never run under
    systemd. `SystemdNotifier` with no `$NOTIFY_SOCKET` behaves the same."""

    enabled = False

    def watchdog_interval(self) -> float | None:
        return None

    def ready(self, status: str | None = None) -> None:
        pass

    def status(self, text: str) -> None:
        pass

    def reloading(self, status: str | None = None) -> None:
        pass

    def stopping(self, status: str | None = None) -> None:
        pass

    def watchdog(self) -> None:
        pass

    def extend_timeout(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


if TYPE_CHECKING:  # both implement the port (mypy checks these)

    def _systemd(notifier: SystemdNotifier) -> ServiceNotifier:
        return notifier

    def _null(notifier: NullNotifier) -> ServiceNotifier:
        return notifier
