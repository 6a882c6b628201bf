"""Secret values and the redaction registry. Core: no I/O.

A `Secret` never shows its value in `repr`, `str` or f-strings; only `reveal()` returns it, and
only the code that puts it on the wire (a request header) should call that. Every Secret made
also registers its value here, so the logging filter can scrub it from any log line even if a
library echoes it back (for example in an HTTP error body).
"""

from __future__ import annotations

import threading

_MIN_SECRET_LENGTH = 4  # shorter strings would scrub ordinary words out of log lines
_lock = threading.Lock()
_known: set[str] = set()

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


def register(value: str) -> None:
    """Remember a secret value so `scrub` removes it from text."""
    if len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _known.add(value)


def scrub(text: str) -> str:
    """Replace every registered secret value in `text` with a marker."""
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text
