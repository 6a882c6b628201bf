"""The control socket's client: one request, one reply, for `edgevoice ctl` and scripts.

`ControlClient(path).send(request)` connects to `<paths.runtime_dir>/control.sock`
(`control_socket.socket_path`), sends one `control_protocol` request line and reads one reply
line, bounded in size (`MAX_REPLY`) and time (`timeout_s`). Every way it can fail is its own
`ControlClientError` subclass with a one-line message naming the socket and what to do, and the
exit status `edgevoice ctl` uses for it. Blocking: from async code call it in a thread.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from edgevoice.control_protocol import (
    MAX_REPLY,
    ControlError,
    Reply,
    Request,
    encode_request,
    parse_reply,
)
from edgevoice.redact import printable


class ControlClientError(Exception):
    """`edgevoice ctl` could not get an answer, or the daemon refused the request.

    `exit_status` is what `edgevoice ctl` exits with (sysexits.h where one fits).
    """

    exit_status = 1


class NotRunningError(ControlClientError):
    """No socket file, or nobody listens on it."""

    exit_status = 69  # EX_UNAVAILABLE


class PermissionDeniedError(ControlClientError):
    """The socket (or its directory) is not open to this user."""

    exit_status = 77  # EX_NOPERM


class NoAnswerError(ControlClientError):
    """The daemon did not answer in time, or closed the connection without answering."""

    exit_status = 75  # EX_TEMPFAIL


class BadReplyError(ControlClientError):
    """The answer is not a reply of the control protocol (not edgevoice on the socket?)."""

    exit_status = 76  # EX_PROTOCOL


class RefusedError(ControlClientError):
    """The daemon answered `{"ok": false, "error": ...}`."""

    exit_status = 1


class ControlClient:
    """A blocking client for one request at a time (`edgevoice ctl`). Each `send` opens a
    connection, sends one request line, reads one reply line, and closes.

    In async code call it through `asyncio.to_thread`.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    def send(self, request: Request) -> Reply:
        """The daemon's successful reply to `request` (`reply.data` holds its fields).

        Raises NotRunningError, PermissionDeniedError, NoAnswerError, BadReplyError or
        RefusedError, each with a one-line message naming the socket and what to do.
        """
        return self.send_line(encode_request(request))

    def send_line(self, line: bytes) -> Reply:
        """Like `send`, with the request already encoded (one line ending in "\\n")."""
        deadline = time.monotonic() + self.timeout_s
        where = printable(str(self.path))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout_s)
            try:
                sock.connect(os.fspath(self.path))
            except FileNotFoundError:
                raise NotRunningError(
                    f"edgevoice is not running (no control socket at {where})"
                ) from None
            except ConnectionRefusedError:
                raise NotRunningError(
                    f"edgevoice is not running (nothing listens on {where})"
                ) from None
            except PermissionError:
                raise PermissionDeniedError(
                    f"permission denied on {where}: run as root or as a member of the "
                    "service's group"
                ) from None
            except TimeoutError:
                raise NoAnswerError(f"edgevoice did not accept the connection on {where}") from None
            except OSError as error:
                raise NotRunningError(f"cannot connect to {where}: {error.strerror}") from None
            try:
                sock.sendall(line)
                reply = _read_line(sock, deadline)
            except TimeoutError:
                raise NoAnswerError(
                    f"edgevoice did not answer within {self.timeout_s:g} s (socket {where})"
                ) from None
            except OSError as error:
                raise NoAnswerError(
                    f"the connection to {where} failed: {error.strerror or error}"
                ) from None
        if reply is None:
            raise NoAnswerError(f"edgevoice closed the connection without answering ({where})")
        try:
            answer = parse_reply(reply)
        except ControlError as error:
            raise BadReplyError(
                f"unreadable answer on {where} ({error}); is it edgevoice's control socket?"
            ) from None
        if not answer.ok:
            raise RefusedError(answer.error)  # escaped and one line (parse_reply)
        return answer


def _read_line(sock: socket.socket, deadline: float) -> bytes | None:
    """One reply line (without "\\n"); None at EOF before any byte. Bounded in size and time."""
    data = bytearray()
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            if not data:
                return None
            break  # a last line without "\n"
        data += chunk
        if len(data) > MAX_REPLY:
            raise BadReplyError(
                f"the answer is longer than {MAX_REPLY} bytes; is it edgevoice's control socket?"
            )
    return bytes(data).split(b"\n", 1)[0]
