"""The control socket: a Unix stream socket speaking the line protocol of `control_protocol`.

`ControlServer(path, handler, group)` listens at `<paths.runtime_dir>/control.sock`; each request
line is parsed (`control_protocol.parse_request`), handed to `await handler(request)`, and its
result sent back as one reply line. The client side is `control_client.ControlClient`.

Who may talk to it: the socket file is mode 0660, owned by the daemon's user and `group`, so
root, the service user and the members of that group (a home-automation user) can connect;
nobody else can. The directory it lives in (systemd's RuntimeDirectory) must let them in too.

What a client cannot do:
- reach the handler with a bad request: a line that does not parse gets an error reply, the
  connection stays usable, and the handler never sees it;
- send a line longer than the protocol allows (MAX_LINE_BYTES): it gets an error reply and the
  connection is closed (the rest of that line cannot be told from a new request);
- hold the daemon up: every connection is served by its own task; a client idle (or dripping a
  line) for `idle_timeout_s`, or not reading its replies for `write_timeout_s`, is dropped; at
  most `max_clients` connections are served at once (the next gets an error reply and is closed);
  a handler that does not answer within `handler_timeout_s` gives an error reply.
- break the daemon: nothing a client sends raises out of the server; a handler failure (a bug)
  is logged with its traceback and answered as an internal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Final

from edgevoice.control_protocol import (
    MAX_LINE,
    ControlError,
    Reply,
    Request,
    encode_reply,
    parse_request,
)
from edgevoice.errors import EdgevoiceError, ErrorClass
from edgevoice.live.json_view import JsonValue
from edgevoice.redact import printable

log = logging.getLogger("edgevoice.control")

Handler = Callable[[Request], Awaitable[Mapping[str, JsonValue] | None]]

SOCKET_NAME: Final = "control.sock"  # in paths.runtime_dir
SOCKET_MODE: Final = 0o660
# sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH: Final = 107
_PEERCRED: Final = struct.Struct("3i")  # struct ucred: pid, uid, gid


def socket_path(runtime_dir: str | os.PathLike[str]) -> Path:
    """Where the daemon listens and `edgevoice ctl` connects: `<paths.runtime_dir>/control.sock`."""
    return Path(runtime_dir) / SOCKET_NAME


class ControlSocketError(EdgevoiceError, OSError):
    """The control socket cannot be set up (the message says why and what to change).

    FATAL for the socket only: the daemon runs on without it (button and voice still work).
    """

    error_class = ErrorClass.FATAL


# --------------------------------------------------------------------------------------------
# Server


class ControlServer:
    """A Unix stream server at `path` answering control requests with `handler`.

    `handler(request)` runs on the loop for each parsed request; it returns the reply's fields
    (a mapping, or None for a bare `{"ok": true}`) or raises `ControlError` to refuse it with
    that one-line message. It should answer at once (e.g. "say" accepted, not the model's
    answer): after `handler_timeout_s` (4 s, under `edgevoice ctl`'s 5 s) the client is told
    there was no answer. `group`: a group name or id for the socket file (None: the daemon's
    own group).

    Lifecycle: `await start()` creates the socket file (so a problem is reported before
    anything else runs), `await serve()` accepts connections until it is cancelled (the app
    runs it in its TaskGroup; every connection is a task of serve's own TaskGroup, so none
    outlives it), and on its way out closes every connection and removes the socket file.
    `async with ControlServer(...) as server:` does both in a background task and `close()`s.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        handler: Handler,
        group: str | int | None = None,
        *,
        max_clients: int = 8,
        idle_timeout_s: float = 60.0,
        write_timeout_s: float = 5.0,
        handler_timeout_s: float = 4.0,
        max_line: int = MAX_LINE,
    ) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        self.path = Path(path)
        self._handler = handler
        self._group = group
        self._max_clients = max_clients
        self._idle_timeout_s = idle_timeout_s
        self._write_timeout_s = write_timeout_s
        self._handler_timeout_s = handler_timeout_s
        self._max_line = max_line
        self._listener: socket.socket | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket file
        self._serving: asyncio.Task[None] | None = None  # serve() run by `async with`
        self._conns: set[socket.socket] = set()  # accepted and not yet closed
        self.rejected = 0  # connections turned away because max_clients were being served
        self.bad_requests = 0  # lines that did not parse

    @property
    def clients(self) -> int:
        """Connections being served right now."""
        return len(self._conns)

    async def __aenter__(self) -> ControlServer:
        await self.start()
        self._serving = asyncio.create_task(self.serve(), name="control-socket")
        await asyncio.sleep(0)  # let it reach its first accept
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Create the socket file (mode 0660, `group`) and listen; returns at once.

        A stale socket left by a crashed daemon is replaced; a socket another process still
        listens on, or anything that is not a socket (a file, a directory, a symlink), is left
        alone and reported. Raises ControlSocketError naming the path and the fix. A second
        call while listening does nothing.
        """
        if self._listener is not None:
            return
        gid = _resolve_group(self._group)
        path = self.path
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise ControlSocketError(
                f"control socket path {printable(str(path))} is longer than {MAX_SOCKET_PATH} "
                "bytes (the limit of a Unix socket address); choose a shorter paths.runtime_dir"
            )
        _ensure_directory(path.parent, gid)
        await _clear_stale(path)
        sock = _bind_in_place(path, gid)
        st = os.stat(path)
        self._identity = (st.st_dev, st.st_ino)
        self._listener = sock
        log.info("control socket listening at %s", printable(str(path)))

    async def serve(self) -> None:
        """Accept and serve connections until cancelled (calls `start()` first if needed).

        Raises ControlSocketError from `start()`; afterwards nothing a client does ends it.
        When it ends, every connection is closed and the socket file removed.
        """
        await self.start()
        listener = self._listener
        assert listener is not None
        loop = asyncio.get_running_loop()
        self._serving = asyncio.current_task()  # so close() can end it, however it was run
        # Connections are accepted in a reader callback rather than with `await
        # loop.sock_accept()`: a cancellation landing between the accept and the task resuming
        # would lose the accepted socket (left open until garbage collection, its client
        # hanging). Here every accepted socket is in self._conns at once and closed below.
        try:
            async with asyncio.TaskGroup() as group:
                loop.add_reader(listener.fileno(), self._accept_all, listener, group)
                await loop.create_future()  # until cancelled
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(listener.fileno())
            for conn in self._conns:  # accepted, but its task never started
                conn.close()
            self._conns.clear()
            self._shut()

    def _accept_all(self, listener: socket.socket, group: asyncio.TaskGroup) -> None:
        """Reader callback: accept every pending connection and give each its task."""
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # EMFILE and friends: pause instead of spinning
                log.warning("control socket: accept failed (%s); pausing 1 s", error.strerror)
                loop = asyncio.get_running_loop()
                loop.remove_reader(listener.fileno())
                loop.call_later(1.0, self._resume_accepting, listener, group)
                return
            if len(self._conns) >= self._max_clients:
                self._turn_away(conn)
                continue
            conn.setblocking(False)
            serving = self._serve(conn)
            try:
                group.create_task(serving)
            except RuntimeError:  # serve() is shutting down
                serving.close()
                conn.close()
                return
            self._conns.add(conn)

    def _resume_accepting(self, listener: socket.socket, group: asyncio.TaskGroup) -> None:
        if self._listener is listener:
            asyncio.get_running_loop().add_reader(
                listener.fileno(), self._accept_all, listener, group
            )

    def _turn_away(self, conn: socket.socket) -> None:
        """One error line (it fits the new socket's empty buffer) and close, without a task."""
        self.rejected += 1
        if self.rejected == 1 or self.rejected % 100 == 0:
            log.warning(
                "control socket: %d clients already connected; turned one away (%d so far)",
                self._max_clients,
                self.rejected,
            )
        try:
            conn.setblocking(False)
            conn.send(encode_reply(Reply.failure("too many control clients; retry")))
        except OSError:
            pass
        finally:
            conn.close()

    async def close(self) -> None:
        """Stop serving, drop every connection, remove the socket file (only if it is still
        ours). Never raises; safe twice."""
        serving, self._serving = self._serving, None
        if serving is not None and serving is not asyncio.current_task() and not serving.done():
            serving.cancel()
            with contextlib.suppress(BaseException):
                await serving
        self._shut()

    def _shut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            _unlink_if(self.path, self._identity)

    # ---------------------------------------------------------------------------------------

    async def _serve(self, conn: socket.socket) -> None:
        """One connection, start to end. Ends normally whatever the client does."""
        writer: asyncio.StreamWriter | None = None
        try:
            # The stream's limit is where the newline may be at the latest: max_line counts it.
            reader, writer = await asyncio.open_unix_connection(sock=conn, limit=self._max_line - 1)
            await self._conversation(reader, writer, _peer(conn))
        except (ConnectionError, OSError):
            pass  # the client went away: nothing to tell anyone
        except Exception:
            log.exception("control socket: a connection failed (a bug in edgevoice)")
        finally:
            self._conns.discard(conn)
            if writer is None:
                conn.close()
            else:
                await self._close_writer(writer)

    async def _close_writer(self, writer: asyncio.StreamWriter) -> None:
        """Close after what is buffered has gone out; abort if the client does not take it."""
        writer.close()
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await writer.wait_closed()
        except (TimeoutError, OSError):
            writer.transport.abort()

    async def _conversation(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        logged_bad = False  # one journal line per connection for bad requests, not per line
        while True:
            last = False
            try:
                async with asyncio.timeout(self._idle_timeout_s):
                    line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as end:
                line, last = end.partial, True  # EOF; a last line without "\n" still counts
            except asyncio.LimitOverrunError:
                self.bad_requests += 1
                log.warning("control socket: a request from %s was too long; closed", peer)
                await self._send(
                    writer,
                    encode_reply(
                        Reply.failure(f"request longer than {self._max_line} bytes; closing")
                    ),
                )
                return
            except TimeoutError:
                log.debug("control socket: %s idle for %g s; closed", peer, self._idle_timeout_s)
                return
            if line:  # (EOF right after a full line is the end, not an empty request)
                reply, bad = await self._answer(line, peer, quiet=logged_bad)
                logged_bad = logged_bad or bad
                if not await self._send(writer, reply):
                    return
            if last:
                return

    async def _answer(self, line: bytes, peer: str, quiet: bool) -> tuple[bytes, bool]:
        """The reply line for one request line, and whether the line was not a request (it
        never reached the handler). `quiet`: log a bad line at debug level only."""
        try:
            request = parse_request(line)
        except ControlError as error:
            self.bad_requests += 1
            log.log(
                logging.DEBUG if quiet else logging.INFO,
                "control socket: bad request from %s: %s",
                peer,
                printable(str(error), 200),
            )
            return encode_reply(Reply.failure(str(error))), True
        except Exception:  # the parser must only raise ControlError; a bug must not leak
            self.bad_requests += 1
            log.exception("control socket: a request from %s broke the parser (a bug)", peer)
            return encode_reply(Reply.failure("bad request")), True
        name = request.cmd
        log.log(
            logging.DEBUG if name == "status" else logging.INFO,
            "control: %s from %s",
            name,
            peer,
        )
        try:
            async with asyncio.timeout(self._handler_timeout_s):
                fields = await self._handler(request)
            return encode_reply(Reply.success(fields)), False
        except ControlError as refused:
            return encode_reply(Reply.failure(str(refused))), False
        except TimeoutError:
            log.warning(
                "control: %s from %s not answered within %g s", name, peer, self._handler_timeout_s
            )
            failure = Reply.failure(f"no answer within {self._handler_timeout_s:g} s")
            return encode_reply(failure), False
        except Exception:
            log.exception("control: %s from %s failed (a bug in edgevoice)", name, peer)
            return encode_reply(Reply.failure("internal error; see the journal")), False

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> bool:
        """Write one reply; False when the client does not take it in time (then it is
        dropped: a client that never reads must not pile replies up in memory)."""
        writer.write(data)
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await writer.drain()
        except TimeoutError:
            log.info("control socket: a client did not read its replies; closed")
            writer.transport.abort()
            return False
        return True


def _peer(conn: socket.socket) -> str:
    """'uid 1000 pid 4242' from SO_PEERCRED (who is on the other end, for the journal)."""
    try:
        pid, uid, _gid = _PEERCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
    except (OSError, struct.error):
        return "a client"
    return f"uid {uid} pid {pid}"


def _resolve_group(group: str | int | None) -> int:
    if group is None:
        return -1
    if isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ControlSocketError(
            f"no group named {printable(group)!r} for the control socket; create it or "
            "choose an existing group"
        ) from None


def _ensure_directory(directory: Path, gid: int) -> None:
    """Create the socket's directory when it is missing (systemd's RuntimeDirectory= normally
    does): mode 0750 and the socket's group, so that group can reach the socket."""
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        os.chmod(directory, 0o750)  # whatever the umask
        if gid != -1:
            os.chown(directory, -1, gid)
    except OSError as error:
        raise ControlSocketError(
            f"cannot create the control socket's directory {printable(str(directory))}: "
            f"{error.strerror}; create it (systemd: RuntimeDirectory=edgevoice) or choose "
            "another paths.runtime_dir"
        ) from None


async def _clear_stale(path: Path) -> None:
    """Remove a socket file nobody listens on; refuse anything else that is in the way."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        kind = _file_kind(st.st_mode)
        raise ControlSocketError(
            f"{printable(str(path))} exists and is {kind}, not a socket; remove it or choose "
            "another paths.runtime_dir"
        )
    try:
        async with asyncio.timeout(2.0):
            _, writer = await asyncio.open_unix_connection(path)
    except (ConnectionRefusedError, FileNotFoundError):
        pass  # stale: its daemon is gone
    except TimeoutError:
        raise ControlSocketError(
            f"{printable(str(path))} belongs to a process that does not answer; stop the other "
            "edgevoice (or remove the file)"
        ) from None
    except OSError as error:
        raise ControlSocketError(
            f"cannot check the existing control socket {printable(str(path))}: {error.strerror}"
        ) from None
    else:
        writer.close()
        raise ControlSocketError(
            f"another process is listening on {printable(str(path))}; is edgevoice already "
            "running? Stop it first, or choose another paths.runtime_dir"
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    log.info("removed a stale control socket at %s", printable(str(path)))


def _file_kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a special file"


def _bind_in_place(path: Path, gid: int) -> socket.socket:
    """A listening socket at `path`, with its mode and group set before anyone can connect.

    Bound under a temporary name in the same directory, given mode 0660 and the group there,
    then renamed into place: the final path never exists with the umask's permissions.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(temporary).st_mode):
                os.unlink(temporary)  # left by a crashed daemon that had our pid
        sock.bind(os.fspath(temporary))
        try:
            os.chmod(temporary, SOCKET_MODE)
            if gid != -1:
                os.chown(temporary, -1, gid)
            os.rename(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        sock.listen(16)
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        fix = (
            "run the daemon as a member of that group"
            if error.errno == errno.EPERM
            else "check the directory's owner and mode"
        )
        raise ControlSocketError(
            f"cannot create the control socket {printable(str(path))}: {error.strerror}; {fix}"
        ) from None
    return sock


def _unlink_if(path: Path, identity: tuple[int, int] | None) -> None:
    """Remove `path` only if it is still the socket file this server created."""
    if identity is None:
        return
    try:
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) == identity:
            os.unlink(path)
    except OSError:
        pass
