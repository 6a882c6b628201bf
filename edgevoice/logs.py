"""Logging: native journald entries under systemd, a concise human format on stderr otherwise.

Structured fields ride on a record as `extra={"EDGEVOICE_STATE": "listening", "SESSION_ID": ...}`:
any extra attribute whose name is upper case (`[A-Z][A-Z0-9_]*`, the only names journald keeps)
becomes a journal field, so `journalctl -u edgevoice EDGEVOICE_STATE=offline` works. On stderr
the same fields are appended as `key=value`.

Every handler scrubs registered secrets (edgevoice.redact) from the message and traceback, so a
key that a library echoes back still never reaches the journal.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from edgevoice.redact import REDACTED, scrub

SYSLOG_IDENTIFIER = "edgevoice"
JOURNAL_SOCKET = "/run/systemd/journal/socket"
FIELD_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# The fields edgevoice itself sets; listed so the stderr format shows them in a stable order.
KNOWN_FIELDS = ("EDGEVOICE_STATE", "SESSION_ID", "TURN_ID", "ERROR_CLASS", "CLOSE_CODE")

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


class ScrubSecrets(logging.Filter):
    """Removes registered secret values from the message and the traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


CREDENTIAL_HEADERS = frozenset({"x-goog-api-key", "authorization"})


class RedactCredentialHeaders(logging.Filter):
    """Blanks credentials in websockets' own records before any handler sees them.

    At DEBUG, websockets logs every handshake header line ("> x-goog-api-key: ..."). Our
    handlers scrub secrets too, but a record also reaches handlers that are not ours (pytest's
    caplog, an embedding application's), so the value is removed at the source.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            isinstance(args, tuple)
            and len(args) == 2
            and str(args[0]).lower() in CREDENTIAL_HEADERS
        ):
            record.args = (args[0], REDACTED)
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redacted_logger(name: str) -> logging.Logger:
    """The named logger with RedactCredentialHeaders attached once (pass it to websockets)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactCredentialHeaders) for f in logger.filters):
        logger.addFilter(RedactCredentialHeaders())
    return logger


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


class HumanFormatter(logging.Formatter):
    """`12:00:01.234 WARNING edgevoice.ws: message  state=offline code=1011`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = structured_fields(record)
        if not fields:
            return text
        ordered = [f for f in KNOWN_FIELDS if f in fields] + sorted(
            f for f in fields if f not in KNOWN_FIELDS
        )
        suffix = " ".join(f"{_short(name)}={fields[name]}" for name in ordered)
        head, sep, tail = text.partition("\n")
        return f"{head}  {suffix}{sep}{tail}"


def _short(name: str) -> str:
    return name.removeprefix("EDGEVOICE_").lower()


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


def setup_logging(
    level: str = "info",
    target: str = "auto",
    *,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    sender: JournalSender | None = None,
) -> logging.Handler:
    """Configure the root logger once for the process; returns the handler it installed."""
    use_journal = target == "journal" or (target == "auto" and under_journald(environ, stream))
    handler: logging.Handler
    if use_journal:
        try:
            handler = JournalHandler(sender)
        except ImportError:
            handler = logging.StreamHandler(stream or sys.stderr)
            handler.setFormatter(HumanFormatter())
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(HumanFormatter())
    handler.addFilter(ScrubSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries are chatty at debug; keep them at info unless asked.
    for name in ("websockets", "asyncio", "hpack"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    return handler
