"""Secret values, the redaction registry, and the log filters that apply it. Core: no I/O.

A `Secret` never shows its value in `repr`, `str` or f-strings; only `reveal()` returns it, and
only the code that puts it on the wire (a request header) should call that. Every Secret made
also registers its value here, so the logging filter can scrub it from any log line even if a
library echoes it back (for example in an HTTP error body). `ScrubSecrets` goes on every log
handler; `redacted_logger` is the logger to hand to websockets (client and simulator alike).

The registry is bounded (`MAX_SECRETS`, the most recently registered win): a device fetching a
30-minute token for a year makes 17,520 of them, and every log line is scrubbed against the
registry. Old tokens have expired long before they are forgotten here.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections import OrderedDict

_MIN_SECRET_LENGTH = 4  # shorter strings would scrub ordinary words out of log lines
MAX_SECRETS = 64  # the API key plus a day of 30-minute tokens, with room to spare

REDACTED = "<redacted>"


class Secret:
    """A credential that cannot leak by being printed. Compare with `==`; read with `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        """The real value: put it in a request header, nowhere else."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


class SecretRegistry:
    """Secret values to scrub from text: at most `limit`, the most recently registered win."""

    def __init__(self, limit: int = MAX_SECRETS) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._values: OrderedDict[str, None] = OrderedDict()  # oldest first
        self._by_length: list[str] = []  # longest first, rebuilt on change

    def register(self, value: str) -> None:
        """Remember `value` (registering it again makes it the newest)."""
        if len(value) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            self._values[value] = None
            self._values.move_to_end(value)
            while len(self._values) > self._limit:
                self._values.popitem(last=False)
            self._by_length = sorted(self._values, key=len, reverse=True)

    def __len__(self) -> int:
        return len(self._values)

    def scrub(self, text: str) -> str:
        """Replace every registered value in `text` with a marker."""
        for value in self._by_length:  # a snapshot: register() replaces the list, never edits
            if value in text:
                text = text.replace(value, REDACTED)
        return text


_registry = SecretRegistry()


def register(value: str) -> None:
    """Remember a secret value so `scrub` removes it from text. Past `MAX_SECRETS` values the
    oldest is forgotten."""
    _registry.register(value)


def scrub(text: str) -> str:
    """Replace every registered secret value in `text` with a marker."""
    return _registry.scrub(text)


# Credential-shaped strings that were never registered: an ephemeral token (a resource name,
# docs/live-protocol.md 7) and a Google API key ("AIza" + 35 characters).
_CREDENTIAL_SHAPES = re.compile(r"auth_tokens/[\w.~+/=-]+|AIza[\w-]{35}")


def scrub_credentials(text: str) -> str:
    """`scrub`, and also anything shaped like a token or a Google API key: for text from a
    process that may print credentials we never saw (a token command's stderr)."""
    return _CREDENTIAL_SHAPES.sub(REDACTED, scrub(text))


# What must never reach a terminal or a log line verbatim when it came from outside: C0 and C1
# control characters (a newline forges a log line, ESC drives the terminal), DEL, the Unicode
# line and paragraph separators, the bidirectional overrides and isolates (they reorder what a
# reader sees), and lone surrogates (they cannot even be encoded to UTF-8 for printing).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int | None = None) -> str:
    """`text` from outside (a server frame, a config file, a command's output) made safe for one
    log or terminal line: every character in `_UNPRINTABLE` is written as an escape (`\\x1b`,
    `\\u2028`), and with `limit` a longer text is cut to that many characters, ending in "...".

    Use it where outside text is put into a message; the log filter below applies it to whole
    messages as well, so nothing that slipped through can forge a line.
    """
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 3)] + "..."
    return _UNPRINTABLE.sub(_escape, text)


class ScrubSecrets(logging.Filter):
    """Removes registered secret values from the message and the traceback of every record, and
    escapes what `printable` escapes in the message, so every record is one line.

    The traceback (`exc_text`) keeps its lines; the exception messages in it are the project's
    own and carry outside text through `printable` already.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = printable(scrub(message))
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
