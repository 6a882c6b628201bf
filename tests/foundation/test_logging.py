"""Logging: native journald entries (through a real datagram socket), or a human stderr format."""

from __future__ import annotations

import io
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from journalkit import bound_journal_socket, parse_native

from edgevoice.adapters.journald import JournalHandler, under_journald
from edgevoice.app.log_setup import HumanFormatter, setup_logging


@pytest.fixture
def fake_journald() -> Iterator[socket.socket]:
    with bound_journal_socket() as sock:
        sock.settimeout(5)
        yield sock


def test_journal_entries_carry_priority_and_structured_fields(
    fake_journald: socket.socket,
) -> None:
    handler = setup_logging("debug", "journal")
    assert isinstance(handler, JournalHandler)
    log = logging.getLogger("edgevoice.supervisor")
    log.warning(
        "connection lost; retrying in %.1f s",
        2.5,
        extra={"EDGEVOICE_STATE": "offline", "SESSION_ID": "s-1", "ERROR_CLASS": "transient"},
    )
    fields = parse_native(fake_journald.recv(65536))
    assert fields["MESSAGE"] == "connection lost; retrying in 2.5 s"
    assert fields["PRIORITY"] == "4"
    assert fields["SYSLOG_IDENTIFIER"] == "edgevoice"
    assert fields["EDGEVOICE_STATE"] == "offline"
    assert fields["SESSION_ID"] == "s-1"
    assert fields["ERROR_CLASS"] == "transient"
    assert fields["LOGGER"] == "edgevoice.supervisor"
    # journald keeps only upper-case names; nothing lower-case is sent, and no timestamp text.
    assert all(name.isupper() or "_" in name for name in fields)
    assert not fields["MESSAGE"][:2].isdigit()

    log.error("boom", exc_info=ValueError("bad frame\nsecond line"))
    fields = parse_native(fake_journald.recv(65536))
    assert fields["PRIORITY"] == "3"
    assert "ValueError: bad frame\nsecond line" in fields["EXCEPTION"]
    log.debug("detail")
    assert parse_native(fake_journald.recv(65536))["PRIORITY"] == "7"


def test_human_format_on_stderr() -> None:
    stream = io.StringIO()
    setup_logging("info", "stderr", stream=stream)
    log = logging.getLogger("edgevoice.audio")
    log.debug("hidden at info")
    log.info("opened %s", "hw:1,0", extra={"EDGEVOICE_STATE": "idle", "TURN_ID": 3})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("INFO edgevoice.audio: opened hw:1,0  state=idle turn_id=3")
    assert isinstance(logging.getLogger().handlers[0].formatter, HumanFormatter)


def test_under_journald_detection(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as stream:
        info = os.fstat(stream.fileno())
        matching = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        assert under_journald(matching, stream)
        other = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino + 1}"}
        assert not under_journald(other, stream)  # stderr was redirected elsewhere
        assert not under_journald({}, stream)
        assert not under_journald({"JOURNAL_STREAM": "garbage"}, stream)


@pytest.mark.parametrize(
    ("outside", "shown"),
    [
        ("reason\n12:00:00.000 ERROR edgevoice: forged", "reason\\x0a12:00:00.000 ERROR"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("carriage\rreturn", "carriage\\x0dreturn"),
    ],
)
def test_outside_text_cannot_forge_a_log_line(outside: str, shown: str) -> None:
    stream = io.StringIO()
    setup_logging("info", "stderr", stream=stream)
    logging.getLogger("edgevoice.test").warning("server said %s", outside)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert shown in text
    text.encode("utf-8")  # printable to any terminal


def test_printable_cuts_long_text() -> None:
    from edgevoice.redact import printable

    assert printable("x" * 50, 10) == "xxxxxxx..."
    assert printable("plain words, ünïcode ok") == "plain words, ünïcode ok"


def test_an_uncaught_exception_in_a_background_thread_is_one_escaped_error_line() -> None:
    import threading

    stream = io.StringIO()
    saved = threading.excepthook
    try:
        setup_logging("info", "stderr", stream=stream)

        def blink() -> None:  # as gpiozero's blink thread does when its GPIO line is gone
            raise OSError("line 17 busy\n\x1b[2Jforged: INFO")

        thread = threading.Thread(target=blink, name="blink-17")
        thread.start()
        thread.join()
    finally:
        threading.excepthook = saved
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines  # no traceback at info level
    expected = "ERROR edgevoice.thread: background thread blink-17 stopped: OSError: line 17"
    assert expected in lines[0]
    assert "\x1b" not in lines[0] and "busy\\x0a\\x1b[2Jforged" in lines[0]
