"""journald: native journal entries with priorities and structured fields, and how to tell
that stderr is the journal.

Structured fields ride on a record as `extra={"EDGEVOICE_STATE": "listening", ...}`: any extra
attribute whose name is upper case (`[A-Z][A-Z0-9_]*`, the only names journald keeps) becomes a
journal field, so `journalctl -u edgevoice EDGEVOICE_STATE=offline` works.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

SYSLOG_IDENTIFIER = "edgevoice"
JOURNAL_SOCKET = "/run/systemd/journal/socket"
FIELD_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

# syslog priorities (sd-daemon.h / syslog.h)
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

JournalSender = Callable[..., Any]


def journal_priority(levelno: int) -> int:
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return _PRIORITY[level]
    return _PRIORITY[logging.DEBUG]


def structured_fields(record: logging.LogRecord) -> dict[str, str]:
    """The upper-case extra attributes of a record, as journal fields."""
    return {
        name: str(value)
        for name, value in vars(record).items()
        if FIELD_NAME.match(name) and value is not None
    }


class JournalHandler(logging.Handler):
    """Sends each record to journald natively, with priority and structured fields.

    `sender` is `systemd.journal.send` unless injected (it writes to journald's datagram socket).
    """

    def __init__(self, sender: JournalSender | None = None, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        if sender is None:
            journal = importlib.import_module("systemd.journal")
            sender = journal.send
        self._send = sender

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            fields = structured_fields(record)
            if record.exc_text:
                fields["EXCEPTION"] = record.exc_text
            self._send(
                message,
                PRIORITY=str(journal_priority(record.levelno)),
                SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER,
                LOGGER=record.name,
                CODE_FILE=record.pathname,
                CODE_LINE=record.lineno,
                CODE_FUNC=record.funcName,
                **fields,
            )
        except Exception:
            self.handleError(record)


def under_journald(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """True when stderr goes to the journal (JOURNAL_STREAM matches it) or when started by
    systemd (INVOCATION_ID) with a journald socket present."""
    env = os.environ if environ is None else environ
    journal_stream = env.get("JOURNAL_STREAM", "")
    if journal_stream:
        dev, _, ino = journal_stream.partition(":")
        try:
            info = os.fstat((stream or sys.stderr).fileno())
            return info.st_dev == int(dev) and info.st_ino == int(ino)
        except (OSError, ValueError):
            return False
    return bool(env.get("INVOCATION_ID")) and os.path.exists(JOURNAL_SOCKET)
