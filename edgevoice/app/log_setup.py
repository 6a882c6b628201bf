"""Logging: native journald entries under systemd, a concise human format on stderr otherwise.

Structured fields ride on a record as `extra={"EDGEVOICE_STATE": "listening", "SESSION_ID": ...}`:
any extra attribute whose name is upper case (`[A-Z][A-Z0-9_]*`, the only names journald keeps)
becomes a journal field, so `journalctl -u edgevoice EDGEVOICE_STATE=offline` works. On stderr
the same fields are appended as `key=value`.

Every line of edgevoice's own loggers also carries what applies at that moment
(`LOG_CONTEXT`, kept up to date by the conversation controller): EDGEVOICE_STATE, CONNECTION_ID
(this process's connection number), SESSION_ID (the server's, when it gives one) and TURN_ID
(the turn whose input or answer is in progress). A field the line sets itself wins. Lines that
close a connection add ERROR_CLASS, CLOSE_CODE and CLOSE_REASON; each turn ends with a summary
line (`edgevoice.app.turn_log`: TURN_TRIGGER, SPEECH_S, LATENCY_MS, REPLY_S, INTERRUPTED,
TOKENS, TURN_OUTCOME).

Every handler scrubs registered secrets (edgevoice.redact) from the message and traceback, so a
key that a library echoes back still never reaches the journal.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from typing import TextIO

from edgevoice.adapters.journald import (
    JournalHandler,
    JournalSender,
    structured_fields,
    under_journald,
)
from edgevoice.redact import ScrubSecrets, printable

# The fields edgevoice itself sets; listed so the stderr format shows them in a stable order.
KNOWN_FIELDS = (
    "EDGEVOICE_STATE",
    "CONNECTION_ID",
    "SESSION_ID",
    "TURN_ID",
    "ERROR_CLASS",
    "CLOSE_CODE",
    "CLOSE_REASON",
)


class LogContext:
    """What applies to every line right now (see the module docstring). One per process: the
    daemon runs one conversation."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def update(
        self,
        *,
        state: str | None = None,
        connection: int | None = None,
        session: str | None = None,
        turn: int | None = None,
    ) -> None:
        values = {
            "EDGEVOICE_STATE": state,
            "CONNECTION_ID": connection,
            "SESSION_ID": session,
            "TURN_ID": turn,
        }
        self.fields = {k: str(v) for k, v in values.items() if v is not None}

    def clear(self) -> None:
        self.fields = {}


LOG_CONTEXT = LogContext()


class ContextFields(logging.Filter):
    """Adds `LOG_CONTEXT`'s fields to the records of edgevoice's own loggers (a field the
    record already has is kept)."""

    def __init__(self, context: LogContext = LOG_CONTEXT) -> None:
        super().__init__()
        self._context = context

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "edgevoice" or record.name.startswith("edgevoice."):
            for name, value in self._context.fields.items():
                if getattr(record, name, None) is None:
                    setattr(record, name, value)
        return True


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
    handler.addFilter(ContextFields())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries are chatty at debug; keep them at info unless asked.
    for name in ("websockets", "asyncio", "hpack"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    threading.excepthook = log_thread_exception
    return handler


def log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """An exception nobody caught in a background thread (a pin library's blink thread whose
    GPIO line went away, say) becomes one error line, its traceback at debug level, instead of
    a traceback on stderr; the daemon goes on (what the thread served reports its own failure
    the next time it is used)."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    what = printable(f"{args.exc_type.__name__}: {args.exc_value}", 300)
    log = logging.getLogger("edgevoice.thread")
    log.error("background thread %s stopped: %s", printable(name, 80), what)
    if args.exc_value is not None:
        exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
        log.debug("background thread %s: traceback", printable(name, 80), exc_info=exc_info)
