"""The control socket server on a real Unix socket: requests, garbage, limits, file handling."""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import socket
import stat
from pathlib import Path

import pytest

from edgevoice.adapters.control_socket import ControlServer, ControlSocketError
from edgevoice.control_protocol import MAX_LINE, Mute, Status, Volume

from .conftest import HANG_GUARD, Conn, RecordingHandler

# Lines that are not requests. None of them may reach the handler.
GARBAGE = [
    b"hello\n",
    b"{}\n",
    b"[]\n",
    b'"press"\n',
    b'{"cmd": "rm -rf /"}\n',
    b'{"cmd": "volume", "percent": "loud"}\n',
    b'{"cmd": "volume", "percent": 1e999}\n',
    b'{"cmd": "say"}\n',
    b'{"cmd": "press"\n',
    b"\xff\xfe\x00\x01binary\n",
    b'{"cmd": "status", "cmd": "press"}\n',
    b"[" * 3000 + b"\n",
]


def exists(path: Path) -> bool:
    return os.path.lexists(path)


def read(path: Path) -> str:
    return path.read_text()


def replace_with_file(path: Path, text: str) -> None:
    os.unlink(path)
    path.write_text(text)


def put_in_the_way(kind: str, path: Path, target: Path) -> None:
    """Something that is not a socket at `path` (a symlink points at `target`)."""
    path.parent.mkdir(parents=True)
    target.write_text("keep me")
    if kind == "file":
        path.write_text("keep me")
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to(target)
    else:
        os.mkfifo(path)


async def test_a_request_reaches_the_handler_and_its_answer_comes_back(
    server: ControlServer, handler: RecordingHandler
) -> None:
    conn = await Conn.open(server.path)
    assert await conn.ask(b'{"cmd": "mute"}\n') == {"ok": True}
    assert await conn.ask(b'{"cmd": "status"}\n') == {
        "ok": True,
        "state": "idle",
        "muted": True,
        "volume": 50,
    }
    assert handler.seen == [Mute(), Status()]
    conn.close()


async def test_the_socket_file_is_0660_with_the_given_group(
    sock_path: Path, handler: RecordingHandler
) -> None:
    group = grp.getgrgid(os.getgid()) if os.geteuid() != 0 else grp.getgrnam("nogroup")
    async with ControlServer(sock_path, handler, group.gr_name):
        st = os.lstat(sock_path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == group.gr_gid
        assert st.st_uid == os.geteuid()
        # No temporary name is left next to it.
        assert sorted(p.name for p in sock_path.parent.iterdir()) == ["control.sock"]
    assert not exists(sock_path)


async def test_group_by_id_and_unknown_group(sock_path: Path, handler: RecordingHandler) -> None:
    async with ControlServer(sock_path, handler, os.getgid()):
        assert os.lstat(sock_path).st_gid == os.getgid()
    with pytest.raises(ControlSocketError, match="no group named 'no-such-group-here'"):
        await ControlServer(sock_path, handler, "no-such-group-here").start()


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_garbage_gets_an_error_reply_and_never_reaches_the_handler(
    server: ControlServer, handler: RecordingHandler, garbage: bytes
) -> None:
    conn = await Conn.open(server.path)
    reply = await conn.ask(garbage)
    assert reply["ok"] is False
    assert isinstance(reply["error"], str) and reply["error"] and "\n" not in reply["error"]
    assert handler.seen == []
    # The same connection still works.
    assert (await conn.ask(b'{"cmd": "status"}\n'))["ok"] is True
    assert handler.seen == [Status()]
    assert server.bad_requests == 1
    conn.close()


async def test_each_blank_line_gets_its_error_reply_so_replies_stay_in_step(
    server: ControlServer, handler: RecordingHandler
) -> None:
    conn = await Conn.open(server.path)
    await conn.send(b"\n \r\n" + b'{"cmd": "toggle"}\r\n')
    replies = [await conn.reply() for _ in range(3)]
    assert [r["ok"] for r in replies] == [False, False, True]
    assert "empty request" in replies[0]["error"]
    assert len(handler.seen) == 1
    conn.close()


async def test_the_longest_allowed_line_passes_one_byte_more_closes(
    server: ControlServer, handler: RecordingHandler
) -> None:
    request = b'{"cmd": "status"}'
    longest = request[:-1] + b" " * (MAX_LINE - 1 - len(request)) + b"}\n"
    assert len(longest) == MAX_LINE  # the protocol's limit counts the newline
    conn = await Conn.open(server.path)
    assert (await conn.ask(longest))["ok"] is True
    reply = await conn.ask(b" " + longest)
    assert reply["ok"] is False and "longer than" in reply["error"]
    assert await conn.closed_by_server()
    assert handler.seen == [Status()]


async def test_an_endless_line_is_cut_off(server: ControlServer, handler: RecordingHandler) -> None:
    conn = await Conn.open(server.path)
    conn.writer.write(b"x" * (10 * MAX_LINE))  # no newline, ever
    reply = await conn.reply()
    assert reply["ok"] is False and "longer than" in reply["error"]
    assert await conn.closed_by_server()
    assert handler.seen == []


async def test_requests_in_one_write_are_answered_in_order(
    server: ControlServer, handler: RecordingHandler
) -> None:
    conn = await Conn.open(server.path)
    await conn.send(b'{"cmd": "volume", "percent": 30}\nnonsense\n{"cmd": "status"}\n')
    replies = [await conn.reply() for _ in range(3)]
    assert [r["ok"] for r in replies] == [True, False, True]
    assert replies[2]["volume"] == 30
    conn.close()


async def test_a_last_line_without_newline_is_answered(
    server: ControlServer, handler: RecordingHandler
) -> None:
    conn = await Conn.open(server.path)
    await conn.send(b'{"cmd": "press"}')
    conn.writer.write_eof()
    assert await conn.reply() == {"ok": True}
    assert await conn.closed_by_server()


async def test_handler_refusals_and_bugs_are_error_replies(
    server: ControlServer, handler: RecordingHandler, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await Conn.open(server.path)
    refused = await conn.ask(b'{"cmd": "volume", "percent": 95}\n')
    assert refused == {"ok": False, "error": "volume above 90 % is locked by the operator"}
    await conn.ask(b'{"cmd": "mute"}\n')
    with caplog.at_level(logging.ERROR, logger="edgevoice.control"):
        bug = await conn.ask(b'{"cmd": "cancel"}\n')  # the handler raises RuntimeError
    assert bug["ok"] is False and "internal error" in bug["error"]
    assert "a bug in the handler" not in bug["error"]  # details go to the journal only
    assert any("a bug in the handler" in (r.exc_text or "") for r in caplog.records)
    assert (await conn.ask(b'{"cmd": "status"}\n'))["ok"] is True  # the server is still fine
    conn.close()


async def test_a_slow_handler_for_one_client_does_not_hold_up_another(
    sock_path: Path, handler: RecordingHandler
) -> None:
    handler.gate, handler.gated = asyncio.Event(), ("press",)
    async with ControlServer(sock_path, handler, handler_timeout_s=HANG_GUARD) as server:
        slow, fast = await Conn.open(server.path), await Conn.open(server.path)
        await slow.send(b'{"cmd": "press"}\n')
        pending = asyncio.create_task(slow.reply())
        for _ in range(3):  # answered while the press is still being handled
            assert (await fast.ask(b'{"cmd": "status"}\n'))["ok"] is True
        assert not pending.done()
        handler.gate.set()  # the press is handled now
        assert (await pending)["ok"] is True
        slow.close()
        fast.close()


async def test_a_handler_that_never_answers_times_out(
    sock_path: Path, handler: RecordingHandler
) -> None:
    handler.gate = asyncio.Event()  # never set
    async with ControlServer(sock_path, handler, handler_timeout_s=0.2) as server:
        conn = await Conn.open(server.path)
        reply = await conn.ask(b'{"cmd": "status"}\n')
        assert reply == {"ok": False, "error": "no answer within 0.2 s"}
        conn.close()


async def test_connections_beyond_the_limit_are_turned_away(
    sock_path: Path, handler: RecordingHandler
) -> None:
    async with ControlServer(sock_path, handler, max_clients=2) as server:
        first, second = await Conn.open(server.path), await Conn.open(server.path)
        await first.ask(b'{"cmd": "status"}\n')
        await second.ask(b'{"cmd": "status"}\n')
        third = await Conn.open(server.path)
        reply = await third.reply()
        assert reply["ok"] is False and "too many" in reply["error"]
        assert await third.closed_by_server()
        assert server.rejected == 1
        first.close()
        async with asyncio.timeout(HANG_GUARD):
            while True:  # until the server has noticed
                if server.clients == 1:
                    break
                await asyncio.sleep(0.01)
        fourth = await Conn.open(server.path)
        assert (await fourth.ask(b'{"cmd": "status"}\n'))["ok"] is True
        second.close()
        fourth.close()


async def test_an_idle_client_is_dropped(sock_path: Path, handler: RecordingHandler) -> None:
    async with ControlServer(sock_path, handler, idle_timeout_s=0.2) as server:
        idle = await Conn.open(server.path)
        dripping = await Conn.open(server.path)
        await dripping.send(b'{"cmd": ')  # starts a line and never ends it
        assert await idle.closed_by_server()
        assert await dripping.closed_by_server()
        assert handler.seen == []


async def test_a_client_that_never_reads_is_dropped_and_blocks_nobody(
    sock_path: Path, handler: RecordingHandler
) -> None:
    async with ControlServer(sock_path, handler, write_timeout_s=0.3) as server:
        # A raw socket with a tiny receive buffer that sends requests and reads nothing.
        hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.setblocking(False)
        await asyncio.get_running_loop().sock_connect(hog, str(server.path))
        request = b'{"cmd": "status"}\n' * 200
        other = await Conn.open(server.path)

        async def flood() -> None:
            loop = asyncio.get_running_loop()
            try:
                while True:
                    await loop.sock_sendall(hog, request)
            except OSError:
                return  # the server dropped us

        flooding = asyncio.create_task(flood())
        for _ in range(5):  # the other client is served all along
            assert (await other.ask(b'{"cmd": "status"}\n'))["ok"] is True
        async with asyncio.timeout(HANG_GUARD):
            await flooding
        assert (await other.ask(b'{"cmd": "status"}\n'))["ok"] is True
        other.close()
        hog.close()


async def test_a_stale_socket_is_replaced(sock_path: Path, handler: RecordingHandler) -> None:
    sock_path.parent.mkdir(parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock_path))  # bound, never listening: what a crashed daemon leaves
    dead.close()
    async with ControlServer(sock_path, handler) as server:
        conn = await Conn.open(server.path)
        assert (await conn.ask(b'{"cmd": "status"}\n'))["ok"] is True
        conn.close()


async def test_a_live_socket_is_never_taken_over(
    server: ControlServer, handler: RecordingHandler
) -> None:
    with pytest.raises(ControlSocketError, match="another process is listening"):
        await ControlServer(server.path, handler).start()
    conn = await Conn.open(server.path)  # the first server still answers on its socket
    assert (await conn.ask(b'{"cmd": "status"}\n'))["ok"] is True
    conn.close()


@pytest.mark.parametrize("kind", ["file", "directory", "symlink", "fifo"])
async def test_anything_but_a_socket_in_the_way_is_left_alone(
    tmp_path: Path, sock_path: Path, handler: RecordingHandler, kind: str
) -> None:
    target = tmp_path / "precious"
    put_in_the_way(kind, sock_path, target)
    with pytest.raises(ControlSocketError, match="not a socket; remove it"):
        await ControlServer(sock_path, handler).start()
    assert exists(sock_path)
    assert read(target) == "keep me"
    if kind == "file":
        assert read(sock_path) == "keep me"


async def test_close_removes_only_its_own_socket(
    sock_path: Path, handler: RecordingHandler
) -> None:
    server = ControlServer(sock_path, handler)
    await server.__aenter__()
    served = await Conn.open(sock_path)
    assert (await served.ask(b'{"cmd": "status"}\n'))["ok"] is True
    waiting = await Conn.open(sock_path)  # connected, maybe not accepted yet
    await server.close()
    assert not exists(sock_path)
    assert await served.closed_by_server()
    assert await waiting.closed_by_server()
    assert server.clients == 0
    await server.close()  # twice is fine

    await server.start()  # listening but not serving: closing works the same
    backlog = await Conn.open(sock_path)
    await server.close()
    assert await backlog.closed_by_server()
    assert not exists(sock_path)

    await server.start()  # again, then something else takes the path before close
    replace_with_file(sock_path, "someone else's")
    await server.close()
    assert read(sock_path) == "someone else's"


async def test_a_path_too_long_for_a_unix_socket_is_named(
    tmp_path: Path, handler: RecordingHandler
) -> None:
    deep = tmp_path / ("d" * 120) / "control.sock"
    with pytest.raises(ControlSocketError, match=r"shorter paths\.runtime_dir"):
        await ControlServer(deep, handler).start()


async def test_a_directory_that_cannot_be_made_is_named(
    tmp_path: Path, handler: RecordingHandler
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ControlSocketError, match="cannot create the control socket's directory"):
        await ControlServer(blocker / "control.sock", handler).start()


async def test_volume_request_carries_its_percent(
    server: ControlServer, handler: RecordingHandler
) -> None:
    conn = await Conn.open(server.path)
    assert (await conn.ask(b'{"cmd": "volume", "percent": 70}\n'))["ok"] is True
    assert handler.seen == [Volume(70)]
    conn.close()


async def test_a_missing_directory_is_made_for_the_socket_group(
    tmp_path: Path, handler: RecordingHandler
) -> None:
    group = grp.getgrnam("nogroup") if os.geteuid() == 0 else grp.getgrgid(os.getgid())
    path = tmp_path / "made" / "control.sock"
    async with ControlServer(path, handler, group.gr_gid):
        st = os.stat(path.parent)
        assert stat.S_IMODE(st.st_mode) == 0o750 and st.st_gid == group.gr_gid


async def test_serve_runs_in_the_callers_task_group_and_ends_with_it(
    sock_path: Path, handler: RecordingHandler
) -> None:
    server = ControlServer(sock_path, handler)
    await server.start()  # a problem would be reported here, before the app starts its tasks
    async with asyncio.TaskGroup() as app:
        serving = app.create_task(server.serve())
        conn = await Conn.open(sock_path)
        assert (await conn.ask(b'{"cmd": "press"}\n'))["ok"] is True
        serving.cancel()  # what the app's shutdown does to its tasks
        assert await conn.closed_by_server()
    assert not exists(sock_path)

    await server.start()  # serve() started by the app, close() called from elsewhere
    serving = asyncio.create_task(server.serve())
    await asyncio.sleep(0)
    await server.close()
    async with asyncio.timeout(HANG_GUARD):
        with pytest.raises(asyncio.CancelledError):
            await serving
    assert not exists(sock_path)


async def test_a_garbage_stream_is_one_journal_line_per_connection(
    server: ControlServer, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await Conn.open(server.path)
    with caplog.at_level(logging.INFO, logger="edgevoice.control"):
        await conn.send(b"junk\n" * 50)
        replies = [await conn.reply() for _ in range(50)]
    assert all(r["ok"] is False for r in replies)
    assert server.bad_requests == 50
    assert len([r for r in caplog.records if r.levelno >= logging.INFO]) == 1
    conn.close()
