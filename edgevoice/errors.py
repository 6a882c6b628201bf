"""The edgevoice exception tree: every error says whose fault it is and what happens next.

```
EdgevoiceError                      base; has .error_class (FATAL / THROTTLED / TRANSIENT)
├── ConfigError(ValueError)         config file, override or secret source is wrong: exit 78
├── AudioDeviceError(OSError)       a microphone or speaker failed; the supervisor reopens it
│   ├── DeviceNotFoundError         no device matches the configured name (lists the candidates)
│   ├── DeviceBusyError             "Device or resource busy": another process holds it
│   └── DeviceStalledError          the stream stopped delivering, or delivers only zeros
├── LocalProtocolError(RuntimeError)   edgevoice itself misused the Live protocol (a bug here)
├── RemoteProtocolError(ValueError)    the server sent something the protocol does not allow
├── ConnectError(ConnectionError)      could not open the WebSocket (DNS, refused, TLS, HTTP status)
└── SessionClosedError(ConnectionError)  the server or network closed the session: .code, .reason
```

Every class also inherits the matching built-in, so `except OSError` around device code and
`except ValueError` around parsing keep working.

`ErrorClass` is the retry policy's vocabulary: FATAL stops retrying and says so once, THROTTLED
backs off for long, TRANSIENT retries with exponential backoff and jitter. This module is core:
it does no I/O and imports nothing outside the standard library.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ErrorClass(enum.Enum):
    """How the supervisor treats an error."""

    FATAL = "fatal"  # stop retrying; a person must fix something (key, model, config)
    THROTTLED = "throttled"  # quota or concurrency: retry, but only after a long wait
    TRANSIENT = "transient"  # network, server hiccup, device hiccup: retry with backoff


class EdgevoiceError(Exception):
    """Base of every error edgevoice raises on purpose."""

    error_class: ErrorClass = ErrorClass.TRANSIENT


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration: the dotted key, what is wrong, and where."""

    key: str
    message: str
    source: str = ""  # a file path, "--set", "environment", or "" when not tied to one

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"{self.key}: {self.message}{where}"


class ConfigError(EdgevoiceError, ValueError):
    """The configuration cannot be used. Holds every problem found, not just the first.

    The daemon exits with status 78 (EX_CONFIG) before it starts anything.
    """

    error_class = ErrorClass.FATAL
    exit_status = 78

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("ConfigError needs at least one problem")
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"invalid configuration: {self.problems[0]}"
        lines = [f"invalid configuration ({len(self.problems)} problems):"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)

    @classmethod
    def single(cls, key: str, message: str, source: str = "") -> ConfigError:
        return cls([ConfigProblem(key, message, source)])


# --------------------------------------------------------------------------------------------
# Audio devices


class AudioDeviceError(EdgevoiceError, OSError):
    """A microphone or speaker could not be opened or stopped working.

    Retryable: the supervisor closes the stream and reopens it with backoff, so an unplugged USB
    microphone comes back when it is plugged in again.
    """

    error_class = ErrorClass.TRANSIENT


class DeviceNotFoundError(AudioDeviceError):
    """No ALSA device matches the configured name; the message lists the candidates.

    Still TRANSIENT: a USB device that is unplugged at boot appears later.
    """

    def __init__(self, kind: str, wanted: str, candidates: Sequence[str]) -> None:
        self.kind = kind
        self.wanted = wanted
        self.candidates = tuple(candidates)
        listing = ", ".join(repr(c) for c in self.candidates) or "none"
        super().__init__(
            f"no {kind} device matches {wanted!r}; candidates: {listing}. "
            f"Set audio.{kind}_device to one of them (see `edgevoice devices`)"
        )


class DeviceBusyError(AudioDeviceError):
    """The device is held by another process ("Device or resource busy")."""


class DeviceStalledError(AudioDeviceError):
    """The stream stopped delivering data, or delivers only digital silence."""


# --------------------------------------------------------------------------------------------
# Live protocol


class LocalProtocolError(EdgevoiceError, RuntimeError):
    """edgevoice tried something the Live protocol forbids in the current state.

    This is a bug in edgevoice, not in the server. The session state is left unchanged.
    """

    error_class = ErrorClass.FATAL


class RemoteProtocolError(EdgevoiceError, ValueError):
    """The server sent a frame the Live protocol does not allow (bad JSON, wrong shape, order).

    TRANSIENT: the connection is dropped and a fresh one is opened.
    """

    error_class = ErrorClass.TRANSIENT


class ConnectError(EdgevoiceError, ConnectionError):
    """The WebSocket could not be opened.

    `http_status` is set when the server refused the upgrade; 401/403/404 are FATAL (wrong
    endpoint or credentials), everything else (DNS, refused, timeout, 5xx) is TRANSIENT.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        error_class: ErrorClass | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        if error_class is not None:
            self.error_class = error_class
        elif http_status in (400, 401, 403, 404):
            self.error_class = ErrorClass.FATAL
        elif http_status == 429:
            self.error_class = ErrorClass.THROTTLED


# Close reasons that tell a quota problem from a server fault (both arrive as 1011).
_QUOTA_MARKERS = ("quota", "resource has been exhausted", "resource_exhausted", "rate limit")
_SESSION_NOT_FOUND = "session not found"


class SessionClosedError(EdgevoiceError, ConnectionError):
    """The Live session ended: a close frame from the server, or a dropped socket (code 1006).

    The close code and reason decide the retry class (docs/live-protocol.md section 6.4):

    - 1000: normal closure; TRANSIENT (reconnect when there is something to say)
    - 1006: the network dropped without a close frame; TRANSIENT
    - 1007: invalid argument or bad API key; FATAL
    - 1008: "session not found" means the resumption handle was refused: TRANSIENT, and
      `resumption_rejected` is True so the supervisor retries *without* the handle;
      any other 1008 (unknown model, policy): FATAL
    - 1009: a frame over the size limit; TRANSIENT
    - 1011: quota / resource exhausted: THROTTLED; internal, unavailable, deadline: TRANSIENT
    - anything else: TRANSIENT
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        self.resumption_rejected = code == 1008 and _SESSION_NOT_FOUND in reason.lower()
        self.error_class = classify_close(code, reason)
        shown = reason or "no reason given"
        super().__init__(f"Live session closed with code {code}: {shown}")


def classify_close(code: int, reason: str) -> ErrorClass:
    """Map a WebSocket close code and reason from the Live API to a retry class."""
    lowered = reason.lower()
    if code == 1007:
        return ErrorClass.FATAL
    if code == 1008:
        return ErrorClass.TRANSIENT if _SESSION_NOT_FOUND in lowered else ErrorClass.FATAL
    if code == 1011 and any(marker in lowered for marker in _QUOTA_MARKERS):
        return ErrorClass.THROTTLED
    return ErrorClass.TRANSIENT


def error_class_of(exc: BaseException) -> ErrorClass:
    """The retry class of any exception: ours carry one; unknown OSErrors are transient."""
    if isinstance(exc, EdgevoiceError):
        return exc.error_class
    if isinstance(exc, (OSError, TimeoutError)):
        return ErrorClass.TRANSIENT
    return ErrorClass.FATAL
