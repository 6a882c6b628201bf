"""Logging: native journald entries under systemd, a concise human format on stderr otherwise.

Structured fields ride on a record as `extra={"EDGEVOICE_STATE": "listening", "SESSION_ID": ...}`:
any extra attribute whose name is upper case (`[A-Z][A-Z0-9_]*`, the only names journald keeps)
becomes a journal field, so `journalctl -u edgevoice EDGEVOICE_STATE=offline` works. On stderr
the same fields are appended as `key=value`.

Every handler scrubs registered secrets (edgevoice.redact) from the message and traceback, so a
key that a library echoes back still never reaches the journal.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TextIO

from edgevoice.adapters.journald import (
    JournalHandler,
    JournalSender,
    structured_fields,
    under_journald,
)
from edgevoice.redact import ScrubSecrets

# The fields edgevoice itself sets; listed so the stderr format shows them in a stable order.
KNOWN_FIELDS = ("EDGEVOICE_STATE", "SESSION_ID", "TURN_ID", "ERROR_CLASS", "CLOSE_CODE")


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
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries are chatty at debug; keep them at info unless asked.
    for name in ("websockets", "asyncio", "hpack"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    return handler
