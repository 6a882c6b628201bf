"""The sd_notify facade against a real AF_UNIX datagram socket, as systemd's manager listens."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgevoice.adapters.systemd_notify import (
    STATUS_LIMIT,
    NullNotifier,
    SystemdNotifier,
    socket_address,
    watchdog_usec,
)

WAIT_S = 5.0  # hang guard for a datagram that should already be there


class Manager:
    """The service manager's end: a datagram socket that collects what the daemon sends."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name  # what goes into NOTIFY_SOCKET
        sock.settimeout(WAIT_S)

    def receive(self) -> list[str]:
        """The assignments of the next datagram, in order."""
        data = self.sock.recv(65536)
        return data.decode("utf-8").split("\n")

    def nothing_pending(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(65536)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(WAIT_S)
        return False


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    path = tmp_path / "notify.sock"
    assert len(os.fsencode(path)) < 108, "tmp_path too long for a Unix socket address"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    yield Manager(sock, str(path))
    sock.close()


@pytest.fixture
def abstract_manager() -> Iterator[Manager]:
    name = f"edgevoice-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    yield Manager(sock, "@" + name)
    sock.close()


def test_ready_status_stopping_each_one_datagram(manager: Manager) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": manager.name})
    assert notifier.enabled
    notifier.ready()
    assert manager.receive() == ["READY=1"]
    notifier.status("Listening")
    assert manager.receive() == ["STATUS=Listening"]
    notifier.status("Reconnecting in 4 s (attempt 3): connection refused")
    assert manager.receive() == ["STATUS=Reconnecting in 4 s (attempt 3): connection refused"]
    notifier.ready("Idle")
    assert manager.receive() == ["READY=1", "STATUS=Idle"]
    notifier.stopping()
    assert manager.receive() == ["STOPPING=1"]
    assert notifier.sent == 5 and notifier.failed == 0


def test_reloading_carries_the_monotonic_time_it_began(manager: Manager) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": manager.name})
    before = time.monotonic_ns() // 1000
    notifier.reloading("Reloading the configuration")
    after = time.monotonic_ns() // 1000
    got = manager.receive()
    assert got[0] == "RELOADING=1"
    assert got[1].startswith("MONOTONIC_USEC=")
    assert before <= int(got[1].removeprefix("MONOTONIC_USEC=")) <= after
    assert got[2:] == ["STATUS=Reloading the configuration"]
    notifier.ready()
    assert manager.receive() == ["READY=1"]


def test_injected_clock_gives_monotonic_usec(manager: Manager) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": manager.name}, monotonic_usec=lambda: 123456789)
    notifier.reloading()
    assert manager.receive() == ["RELOADING=1", "MONOTONIC_USEC=123456789"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Needs attention\nREADY=1", "STATUS=Needs attention\\x0aREADY=1"),
        ("bad\r\nSTOPPING=1", "STATUS=bad\\x0d\\x0aSTOPPING=1"),
        ("\x1b[31mred\x1b[0m", "STATUS=\\x1b[31mred\\x1b[0m"),
        ("  padded  ", "STATUS=padded"),
        ("caf\u00e9 \u2028 next", "STATUS=caf\u00e9 \\u2028 next"),
    ],
)
def test_status_text_is_escaped_to_one_line(manager: Manager, text: str, shown: str) -> None:
    """Outside text in a status (a close reason) can never add an assignment of its own."""
    SystemdNotifier({"NOTIFY_SOCKET": manager.name}).status(text)
    assert manager.receive() == [shown]


def test_long_status_is_cut(manager: Manager) -> None:
    SystemdNotifier({"NOTIFY_SOCKET": manager.name}).status("x" * 5000)
    (line,) = manager.receive()
    value = line.removeprefix("STATUS=")
    assert len(value) == STATUS_LIMIT
    assert value.endswith("...")


def test_a_line_break_in_a_raw_assignment_is_refused(manager: Manager) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": manager.name})
    assert notifier.send("STATUS=a\nREADY=1") is False
    assert notifier.send("STATUS=fine") is True
    assert manager.receive() == ["STATUS=fine"]


def test_abstract_namespace_socket(abstract_manager: Manager) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": abstract_manager.name})
    notifier.ready("Idle")
    assert abstract_manager.receive() == ["READY=1", "STATUS=Idle"]


def test_watchdog_interval_is_half_the_period_and_pings(manager: Manager) -> None:
    env = {"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}
    notifier = SystemdNotifier(env, pid=4242)
    assert notifier.watchdog_interval() == 15.0
    notifier.watchdog()
    assert manager.receive() == ["WATCHDOG=1"]


def test_watchdog_without_pid_applies_to_us(manager: Manager) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "3000000"})
    assert notifier.watchdog_interval() == 1.5


def test_watchdog_of_another_process_is_not_ours(manager: Manager) -> None:
    """A child that inherited the variables (a token command) must not ping for the daemon."""
    env = {"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    notifier = SystemdNotifier(env, pid=4242)
    assert notifier.watchdog_interval() is None
    notifier.watchdog()
    notifier.status("after")
    assert manager.receive() == ["STATUS=after"]  # no WATCHDOG=1 went out before it


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WATCHDOG_USEC": ""},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "-5"},
        {"WATCHDOG_USEC": "soon"},
        {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "me"},
    ],
)
def test_watchdog_off(env: dict[str, str]) -> None:
    assert watchdog_usec(env, 4242) is None


def test_watchdog_interval_needs_a_socket() -> None:
    notifier = SystemdNotifier({"WATCHDOG_USEC": "30000000"})
    assert notifier.watchdog_interval() is None


def test_no_socket_is_a_silent_no_op(caplog: pytest.LogCaptureFixture) -> None:
    for env in ({}, {"NOTIFY_SOCKET": ""}):
        notifier = SystemdNotifier(env)
        assert not notifier.enabled
        notifier.ready()
        notifier.status("Listening")
        notifier.reloading()
        notifier.stopping()
        notifier.watchdog()
        notifier.extend_timeout(10)
        notifier.close()
        assert notifier.send("READY=1") is False
        assert notifier.sent == 0 and notifier.failed == 0
    assert caplog.records == []


def test_reads_os_environ_by_default(manager: Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", manager.name)
    SystemdNotifier().ready()
    assert manager.receive() == ["READY=1"]


def test_missing_socket_path_never_raises_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """python-systemd's notify() raises FileNotFoundError here; the facade must not."""
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with caplog.at_level(logging.WARNING, logger="edgevoice.systemd"):
        for _ in range(3):
            notifier.ready()
            notifier.status("Listening")
    assert notifier.failed == 6 and notifier.sent == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "nobody listens on the notify socket" in warnings[0].getMessage()


def test_a_file_that_is_not_a_socket_never_raises(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("")
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
    notifier.ready()
    assert notifier.failed == 1


def test_a_manager_that_comes_back_gets_the_next_message(tmp_path: Path) -> None:
    path = tmp_path / "late.sock"
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
    notifier.status("lost")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        notifier.status("found")
        manager = Manager(sock, str(path))
        assert manager.receive() == ["STATUS=found"]
    finally:
        sock.close()


@pytest.mark.parametrize("value", ["relative/notify.sock", "@", "vsock:2:1234"])
def test_unusable_address_disables_with_a_warning(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edgevoice.systemd"):
        notifier = SystemdNotifier({"NOTIFY_SOCKET": value})
    assert not notifier.enabled
    notifier.ready()
    assert notifier.failed == 0
    assert "systemd notifications are off" in caplog.text


def test_socket_address_forms() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abc") == b"\0abc"
    assert socket_address("abc") is None


def test_a_full_socket_never_blocks_the_caller(tmp_path: Path) -> None:
    """A manager that stops reading: sends fail fast (dropped and counted), never block."""
    path = tmp_path / "full.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum
    sock.bind(str(path))
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
    done = threading.Event()

    def flood() -> None:
        for _ in range(5000):
            notifier.status("x" * 150)
            if notifier.failed:
                break
        done.set()

    worker = threading.Thread(target=flood, daemon=True)
    worker.start()
    try:
        assert done.wait(30), "a send blocked on a full notify socket"
        assert notifier.failed >= 1
        assert notifier.sent >= 1
    finally:
        sock.close()


def test_extend_timeout(manager: Manager) -> None:
    SystemdNotifier({"NOTIFY_SOCKET": manager.name}).extend_timeout(2.5)
    assert manager.receive() == ["EXTEND_TIMEOUT_USEC=2500000"]


def test_close_then_send_reopens(manager: Manager) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": manager.name})
    notifier.status("one")
    notifier.close()
    notifier.close()
    notifier.status("two")
    assert manager.receive() == ["STATUS=one"]
    assert manager.receive() == ["STATUS=two"]


def test_null_notifier_does_nothing() -> None:
    notifier = NullNotifier()
    notifier.ready()
    notifier.status("x")
    notifier.reloading()
    notifier.stopping()
    notifier.watchdog()
    assert notifier.watchdog_interval() is None


def test_same_bytes_as_libsystemd(manager: Manager) -> None:
    """python-systemd's notify (libsystemd's sd_notify) as an oracle: the manager receives the
    same bytes from it as from the facade."""
    daemon = pytest.importorskip("systemd.daemon")
    message = "READY=1\nSTATUS=Listening"
    env_before = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = manager.name
    try:
        assert daemon.notify(message)
    finally:
        if env_before is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = env_before
    oracle = manager.receive()
    SystemdNotifier({"NOTIFY_SOCKET": manager.name}).ready("Listening")
    assert manager.receive() == oracle
    assert manager.nothing_pending()
