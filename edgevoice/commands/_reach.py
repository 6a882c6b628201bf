"""Can this device reach the Live endpoint? DNS, then TCP, then TLS, then one plain HTTP request
for the server's clock (its `Date:` header). No credential is sent and no session is opened:
that is `edgevoice probe`'s job.

Every step has a short timeout; a step that fails says why in words a person can act on, with
the most likely fix (a certificate "not yet valid" or "expired" points at the clock first,
because a Pi has no battery-backed clock and TLS is the first thing a wrong clock breaks).
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from edgevoice.redact import printable

HEADER_LIMIT = 16 * 1024  # bytes of the HTTP response read (headers only)
MAX_ADDRESSES = 3  # addresses tried, in the resolver's order

ContextFactory = Callable[[], ssl.SSLContext]


@dataclass(frozen=True)
class Target:
    """Where `live.endpoint` points."""

    host: str
    port: int
    tls: bool

    @property
    def shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return printable(f"{host}:{self.port}", 300)


def endpoint_target(base_url: str) -> Target:
    """The host, port and scheme of a `live.endpoint` (already validated by the config)."""
    parts = urlsplit(base_url)
    tls = parts.scheme == "wss"
    return Target(parts.hostname or "", parts.port or (443 if tls else 80), tls)


@dataclass(frozen=True)
class Step:
    """One step's outcome: `ok`, what was found (`detail`), and for a failure, the fix."""

    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Reach:
    """What the endpoint check found. `connect` is None when DNS failed; `server_time` (Unix
    seconds) is None when no `Date:` header came back."""

    dns: Step
    connect: Step | None = None
    server_time: float | None = None


def _in_thread(fn: Callable[[], object], timeout: float) -> tuple[bool, object]:
    """Run a blocking call with a deadline: (finished, result or exception). A call still
    running at the deadline is left behind in its daemon thread (getaddrinfo cannot be
    cancelled)."""
    box: list[object] = []

    def target() -> None:
        try:
            box.append(fn())
        except Exception as exc:
            box.append(exc)

    worker = threading.Thread(target=target, name="edgevoice-doctor-net", daemon=True)
    worker.start()
    worker.join(timeout)
    return (True, box[0]) if box else (False, None)


def resolve(target: Target, timeout: float) -> tuple[Step, list[str]]:
    """DNS: the step, and the addresses found (in the resolver's order)."""
    finished, result = _in_thread(
        lambda: socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM), timeout
    )
    host = printable(target.host, 200)
    fix = (
        f"check the network connection and DNS (/etc/resolv.conf); `getent hosts {host}` "
        "must print an address; check live.endpoint"
    )
    if not finished:
        return Step(False, f"no DNS answer for {host} within {timeout:g} s", fix), []
    if isinstance(result, socket.gaierror):
        return Step(False, f"cannot resolve {host}: {result.strerror or result}", fix), []
    if isinstance(result, Exception):
        return Step(False, f"cannot resolve {host}: {printable(str(result), 200)}", fix), []
    assert isinstance(result, list)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in result))
    more = f" (and {len(addresses) - 1} more)" if len(addresses) > 1 else ""
    return Step(True, f"{host} resolves to {addresses[0]}{more}"), addresses


def _connect_error(target: Target, error: OSError, timeout: float) -> Step:
    if isinstance(error, TimeoutError):
        why = f"no answer within {timeout:g} s"
    else:
        why = error.strerror or str(error)
    return Step(
        False,
        f"cannot reach {target.shown}: {printable(why, 200)}",
        "check the network, a firewall or a proxy on the way (outgoing TCP to that port must be "
        "open), and live.endpoint",
    )


def _tls_error(target: Target, error: ssl.SSLError, now: float) -> Step:
    clock = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now))
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = str(error.verify_message or error.reason or error)
        lowered = reason.lower()
        if "not yet valid" in lowered or "expired" in lowered:
            fix = (
                f"the clock is probably wrong (this device says {clock}): turn on time sync "
                "(`sudo timedatectl set-ntp true`) and check `timedatectl`"
            )
        elif "hostname" in lowered or "ip address mismatch" in lowered:
            fix = "the certificate is for another name: check the host in live.endpoint"
        else:
            fix = (
                "the certificate is not trusted here: a proxy or firewall intercepting TLS, or "
                "missing CA certificates (`sudo apt-get install ca-certificates`)"
            )
        return Step(False, f"TLS to {target.shown} failed: {printable(reason, 200)}", fix)
    reason = error.reason or error.strerror or str(error)
    return Step(
        False,
        f"TLS handshake with {target.shown} failed: {printable(str(reason), 200)}",
        "something on the way does not speak TLS on that port (a captive portal, a proxy); "
        "check live.endpoint and the network",
    )


def _handshake_stalled(target: Target, error: OSError, timeout: float) -> Step:
    if isinstance(error, TimeoutError):
        why = f"no TLS answer within {timeout:g} s"
    else:
        why = printable(error.strerror or str(error), 200)
    return Step(
        False,
        f"{target.shown} accepted the connection, but the TLS handshake failed: {why}",
        "something on the way does not speak TLS on that port (a captive portal, a proxy); "
        "check live.endpoint and the network",
    )


def _http_date(sock: socket.socket, target: Target, timeout: float) -> tuple[float | None, str]:
    """Send one GET (no credential) and read the response headers: (server time from `Date:`,
    the status line). Never raises: a server that says nothing gives (None, "")."""
    host = target.host if ":" not in target.host else f"[{target.host}]"
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: edgevoice-doctor\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii", "replace")
    data = b""
    deadline = time.monotonic() + timeout
    try:
        sock.sendall(request)
        while b"\r\n\r\n" not in data and len(data) < HEADER_LIMIT:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = printable(head[0], 100) if head and head[0].startswith("HTTP/") else ""
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "date":
            with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
                return email.utils.parsedate_to_datetime(value.strip()).timestamp(), status
    return None, status


def reach(
    base_url: str,
    *,
    timeout: float = 5.0,
    context_factory: ContextFactory = ssl.create_default_context,
    now: Callable[[], float] = time.time,
) -> Reach:
    """DNS, TCP, TLS (for wss://) and the server's `Date:` for `base_url`, each step bounded by
    `timeout` seconds. `context_factory` makes the TLS context (the system's trust store by
    default, which honours $SSL_CERT_FILE as the daemon's connections do)."""
    target = endpoint_target(base_url)
    dns, addresses = resolve(target, timeout)
    if not dns.ok:
        return Reach(dns)
    failure: Step | None = None
    for address in addresses[:MAX_ADDRESSES]:
        try:
            raw = socket.create_connection((address, target.port), timeout=timeout)
        except OSError as error:
            failure = failure or _connect_error(target, error, timeout)
            continue
        with contextlib.ExitStack() as stack:
            sock = stack.enter_context(raw)
            if target.tls:
                try:
                    context = context_factory()
                    sock.settimeout(timeout)
                    tls = stack.enter_context(
                        context.wrap_socket(sock, server_hostname=target.host)
                    )
                except ssl.SSLError as error:
                    return Reach(dns, _tls_error(target, error, now()))
                except OSError as error:
                    return Reach(dns, _handshake_stalled(target, error, timeout))
                detail = f"TLS to {target.shown} ({tls.version()}, certificate valid"
                expires = (tls.getpeercert() or {}).get("notAfter")
                if isinstance(expires, str):
                    with contextlib.suppress(ValueError):
                        day = time.gmtime(ssl.cert_time_to_seconds(expires))
                        detail += f" until {time.strftime('%Y-%m-%d', day)}"
                detail += ")"
                sock = tls
            else:
                detail = f"TCP to {target.shown} (ws://: plain, loopback only)"
            server_time, status = _http_date(sock, target, timeout)
            if status:
                detail += f"; the server answers ({status.split(' ', 1)[-1]})"
            return Reach(dns, Step(True, detail), server_time)
    assert failure is not None
    return Reach(dns, failure)


def clock_step(
    now: float,
    server_time: float | None,
    *,
    floor: float,
    server: str = "the endpoint",
    max_skew: float = 300.0,
) -> Step:
    """Is the clock plausible? Before `floor` (when this edgevoice was made) it is surely wrong;
    with the server's time, more than `max_skew` seconds apart is wrong too."""
    shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    fix = (
        "turn on time sync (`sudo timedatectl set-ntp true`; a Pi has no battery clock and "
        "sets its time from the network after boot), then check `timedatectl`"
    )
    if now < floor:
        made = time.strftime("%Y-%m-%d", time.gmtime(floor))
        return Step(False, f"the clock says {shown}, before this edgevoice was made ({made})", fix)
    if server_time is None:
        return Step(True, f"{shown} (plausible; not compared: {server} gave no time)")
    skew = now - server_time
    if abs(skew) > max_skew:
        direction = "ahead of" if skew > 0 else "behind"
        return Step(False, f"the clock ({shown}) is {_span(abs(skew))} {direction} {server}'s", fix)
    return Step(True, f"{shown}, within {max(1, round(abs(skew)))} s of {server}'s clock")


def _span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
