"""The blocking control client against a real server, dead sockets and misbehaving servers."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from edgevoice.adapters.control_client import (
    BadReplyError,
    ControlClient,
    ControlClientError,
    NoAnswerError,
    NotRunningError,
    PermissionDeniedError,
    RefusedError,
)
from edgevoice.adapters.control_socket import ControlServer
from edgevoice.control_protocol import Mute, Status, Volume

from .conftest import RecordingHandler

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(path: Path, answer: RawHandler) -> AsyncIterator[None]:
    """A Unix server that is not edgevoice: it answers however the test says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    server = await asyncio.start_unix_server(answer, path=str(path))
    try:
        yield
    finally:
        server.close()


async def send(path: Path, request: object, timeout_s: float = 5.0) -> dict[str, object]:
    """The reply's data, "ok" put back (what went over the wire)."""
    client = ControlClient(path, timeout_s=timeout_s)
    reply = await asyncio.to_thread(client.send, request)  # type: ignore[arg-type]
    assert reply.ok
    return {"ok": True, **reply.data}


async def test_requests_and_replies_round_trip(
    server: ControlServer, handler: RecordingHandler
) -> None:
    assert await send(server.path, Mute()) == {"ok": True}
    assert await send(server.path, Volume(20)) == {"ok": True}
    status = await send(server.path, Status())
    assert status == {"ok": True, "state": "idle", "muted": True, "volume": 20}
    assert handler.seen == [Mute(), Volume(20), Status()]


async def test_a_refusal_is_its_own_error(server: ControlServer) -> None:
    with pytest.raises(RefusedError, match=r"^volume above 90 % is locked") as caught:
        await send(server.path, Volume(95))
    assert caught.value.exit_status == 1


async def test_no_socket_file_means_not_running(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    with pytest.raises(NotRunningError) as caught:
        await send(path, Status())
    assert str(caught.value) == f"edgevoice is not running (no control socket at {path})"
    assert caught.value.exit_status == 69


async def test_a_stale_socket_means_not_running(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    with pytest.raises(NotRunningError, match="nothing listens on"):
        await send(path, Status())


def test_a_socket_closed_to_this_user_is_permission_denied(tmp_path: Path) -> None:
    """Run the client as 'nobody' (a forked child drops root) against a 0660 root socket."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user")
    os.chmod(tmp_path, 0o755)  # the directory is open; the socket file is not
    path = tmp_path / "control.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o660)
    listener.listen(1)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become nobody, try, report through the pipe
        status = 99
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            ControlClient(path, timeout_s=2).send(Status())
            status = 0
        except ControlClientError as error:
            os.write(write_end, f"{type(error).__name__}|{error.exit_status}|{error}".encode())
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        kind, exit_status, message = pipe.read().decode().split("|", 2)
    listener.close()
    assert os.waitstatus_to_exitcode(status) == 1
    assert (kind, exit_status) == ("PermissionDeniedError", str(PermissionDeniedError.exit_status))
    assert message.startswith(f"permission denied on {path}: ")
    assert "member of the service's group" in message


async def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    hold = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hold.wait()
        writer.close()

    async with raw_server(path, silent):
        with pytest.raises(NoAnswerError, match=r"did not answer within 0\.3 s") as caught:
            await send(path, Status(), timeout_s=0.3)
        hold.set()
    assert caught.value.exit_status == 75


async def test_a_server_that_hangs_up_without_answering(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.close()

    async with raw_server(path, rude):
        with pytest.raises(NoAnswerError, match="closed the connection without answering"):
            await send(path, Status())


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 400 Bad Request\r\n", b"[1, 2]\n", b'{"status": "fine"}\n', b"\x1b[2J\n"],
)
async def test_a_reply_that_is_not_the_protocol_is_named(tmp_path: Path, answer: bytes) -> None:
    path = tmp_path / "control.sock"

    async def stranger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(answer)
        await writer.drain()
        writer.close()

    async with raw_server(path, stranger):
        with pytest.raises(BadReplyError, match="is it edgevoice's control socket") as caught:
            await send(path, Status())
    assert "\x1b" not in str(caught.value)
    assert caught.value.exit_status == 76


async def test_an_endless_reply_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        try:
            for _ in range(100):
                writer.write(b"x" * 65536)
                await writer.drain()
        except OSError:
            pass
        writer.close()

    async with raw_server(path, flood):
        with pytest.raises(BadReplyError, match="longer than"):
            await send(path, Status())


async def test_a_refusal_with_control_characters_prints_as_one_line(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def hostile(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b'{"ok": false, "error": "\\u001b[2Jgone\\nfake line"}\n')
        await writer.drain()
        writer.close()

    async with raw_server(path, hostile):
        with pytest.raises(RefusedError) as caught:
            await send(path, Status())
    message = str(caught.value)
    assert "\x1b" not in message and "\n" not in message
    assert "gone" in message and "fake line" in message
