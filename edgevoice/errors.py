"""The edgevoice exception tree, and the one error policy: what each error means for the process.

```
EdgevoiceError                      base; has .error_class (FATAL / THROTTLED / TRANSIENT)
├── ConfigError(ValueError)         config file, override or secret source is wrong
├── CredentialError(OSError)        the credential cannot be fetched right now (token command)
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
`except ValueError` around parsing keep working. Every message is one line; text that came
from outside (close reasons, command output) is escaped with `edgevoice.redact.printable`.

## The policy (decided once; `disposition()` applies it, the supervisor follows it)

A headless device has nobody to press Enter, so no error after start-up ends the process:

- **ConfigError at start-up**: exit 78 (EX_CONFIG) before anything opens; the unit's
  `RestartPreventExitStatus=78` keeps it down until the file is fixed.
- **ConfigError later** (a key file that went bad before a reconnect): stay up, needs
  attention, until a reload.
- **CredentialError** (the token command failed, timed out or printed no token): TRANSIENT,
  retry with backoff; a token server down for a minute must not stop the unit. Only a token
  command that is not found or not executable is a ConfigError.
- **FATAL remote**: a bad key (1007 "API key not valid", HTTP 401/403), an unknown model (1008
  "... not found ... bidiGenerateContent", "Publisher Model"), a permission problem, a wrong
  endpoint (HTTP 404, a redirect, an untrusted certificate): stay up, stop retrying, and say
  what needs attention (state, `STATUS=`, LED, one journal line with `Disposition.fix`) until
  reload or restart. An unknown model may move to the next fallback model first.
- **THROTTLED**: 1011 quota / resource exhausted, HTTP 429: retry after a long backoff.
- **TRANSIENT**: the network, 1006, 1011 internal / unavailable / deadline, 1008 "The operation
  was aborted." and every 1008 not recognised, a malformed server frame: retry with
  exponential backoff and jitter, keeping the resumption handle.
- **The handle is unusable**: 1008 "session not found", and any 1007 on a *resumed* connection
  except the API-key one (gemini-3.8 field report): retry at once without the handle.
- **Our own bug** (LocalProtocolError, or an exception that is not ours): log it with its
  traceback, drop the connection, retry with backoff; never stop the device.

Failures marked `bounded` (1008 and 1011 closes, malformed frames, websockets failing the
connection over the server's bytes) count toward `MAX_CONSECUTIVE_FAILURES`: the supervisor
counts consecutive ones (reset after a stable connection) and passes the count in; past the
bound the disposition becomes needs-attention with a slow retry every `ATTENTION_RETRY_S`
(and `try_fallback`, so a configured fallback model is tried first). Network failures are never
bounded: a device offline for a day reconnects by itself when the network returns.

Closes are classified from the field (docs/live-protocol.md section 6.4, 6.2): the reason text,
not the code alone, says whether a person must act. A close that websockets itself sent because
the server's bytes broke the WebSocket protocol (1002, 1007 for a close reason that is not
UTF-8, 1009 too big) or a keepalive timed out is `local`: it is never read as the server's
verdict (a server's 1007 is FATAL; websockets' own 1007 is not).

This module is core: it does no I/O and imports nothing outside the standard library and
`edgevoice.redact`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgevoice.redact import printable

# Consecutive bounded failures (see the module docstring) before the device says it needs
# attention. Five attempts with backoff span about a minute: long enough to ride out a burst
# of field 1008/1011 closes, short enough that a device stuck on them says so.
MAX_CONSECUTIVE_FAILURES = 5
# Past that bound, or for a configuration the service refuses, nothing heals by retrying
# quickly; a needs-attention device whose cause may heal (the service recovering) retries this
# rarely, which is no reconnect storm.
ATTENTION_RETRY_S = 900.0
# Outside text is cut to this many characters in a message (a close reason is at most 123
# bytes on the wire; command output can be anything).
SHOWN_TEXT_LIMIT = 200


class ErrorClass(enum.Enum):
    """How the supervisor treats an error."""

    FATAL = "fatal"  # stop retrying and say what needs attention (the process stays up)
    THROTTLED = "throttled"  # quota or concurrency: retry, but only after a long wait
    TRANSIENT = "transient"  # network, server hiccup, device hiccup, our bug: retry with backoff


class EdgevoiceError(Exception):
    """Base of every error edgevoice raises on purpose."""

    error_class: ErrorClass = ErrorClass.TRANSIENT


# --------------------------------------------------------------------------------------------
# Configuration and credentials


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

    At start-up the daemon exits with status 78 (EX_CONFIG) before it starts anything. Found
    later (a key file that changed before a reconnect), the daemon stays up and needs attention
    until a reload.
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


class CredentialError(EdgevoiceError, OSError):
    """The credential could not be fetched this time: the token command exited non-zero, timed
    out, or printed something that is not a token (not UTF-8, too large, wrong shape).

    TRANSIENT, never exit 78: a token server that is down for a minute must not stop the unit
    for good. The supervisor retries with backoff. `key` is the config key (auth.token_command).
    """

    error_class = ErrorClass.TRANSIENT

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")

    def __str__(self) -> str:  # OSError would render the args tuple
        return str(self.args[0])


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

    This is a bug in edgevoice, not in the server. The session state is left unchanged. The
    supervisor logs it with its traceback, drops the connection and reconnects with backoff:
    our own bug must never stop the device (so TRANSIENT, not FATAL).
    """

    error_class = ErrorClass.TRANSIENT


class RemoteProtocolError(EdgevoiceError, ValueError):
    """The server sent a frame the Live protocol does not allow (bad JSON, wrong shape, order).

    TRANSIENT: the connection is dropped and a fresh one is opened.
    """

    error_class = ErrorClass.TRANSIENT


class ConnectError(EdgevoiceError, ConnectionError):
    """The WebSocket could not be opened.

    `http_status` is set when the server refused the upgrade; 400/401/403/404 are FATAL (wrong
    endpoint or credentials), 429 THROTTLED, everything else (DNS, refused, timeout, 5xx)
    TRANSIENT unless the caller says otherwise.
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


# Close reasons (lowercased substrings) from docs/live-protocol.md section 6.4.
_QUOTA_MARKERS = ("quota", "resource has been exhausted", "resource_exhausted", "rate limit")
_SESSION_NOT_FOUND = "session not found"
_KEY_MARKERS = ("api key", "api_key", "permission", "unauthenticated", "unauthorized")
_MODEL_MARKERS = ("is not found for api version", "not supported for bidigeneratecontent",
                  "publisher model")  # fmt: skip
_DEADLINE = "deadline expired"
# Codes websockets sends when it fails the connection over the peer's bytes (RFC 6455 7.4.1).
_WIRE_FAILURES = (1002, 1007, 1009)


def _shown(reason: str) -> str:
    return printable(reason, SHOWN_TEXT_LIMIT) if reason else "no reason given"


class SessionClosedError(EdgevoiceError, ConnectionError):
    """The Live session ended: a close frame from the server, or a dropped socket (code 1006).

    - `code`, `reason`: the close (the reason as received; the message escapes it).
    - `local`: True when this end sent the close first because the server's bytes broke the
      WebSocket protocol (1002, 1007 for a close reason that is not UTF-8, 1009 too big) or a
      keepalive ping went unanswered (1011). Never the server's verdict.
    - `resumed`: the connection was opened with a resumption handle.
    - `resumption_rejected`: reconnect *without* the handle (1008 "session not found", or a
      non-key 1007 on a resumed connection).

    `error_class` is `classify_close(code, reason, ...)`; `disposition()` says the rest.
    """

    def __init__(
        self, code: int, reason: str = "", *, local: bool = False, resumed: bool = False
    ) -> None:
        self.code = code
        self.reason = reason
        self.local = local
        self.resumed = resumed
        self.resumption_rejected = handle_rejected(code, reason, local=local, resumed=resumed)
        self.error_class = classify_close(code, reason, local=local, resumed=resumed)
        if local:
            text = f"connection failed on our side with code {code}: {_shown(reason)}"
        else:
            text = f"Live session closed with code {code}: {_shown(reason)}"
        super().__init__(text)


def _names_config(lowered: str) -> bool:
    return any(m in lowered for m in _KEY_MARKERS) or any(m in lowered for m in _MODEL_MARKERS)


def handle_rejected(code: int, reason: str, *, local: bool = False, resumed: bool = False) -> bool:
    """True when the resumption handle must not be used again after this close."""
    if local:
        return False
    lowered = reason.lower()
    if code == 1008 and _SESSION_NOT_FOUND in lowered:
        return True
    # 3.8 field report: a 1007 on a resume attempt means the handle is unusable; only the
    # API-key 1007 is about something else.
    return code == 1007 and resumed and not any(m in lowered for m in _KEY_MARKERS)


def classify_close(
    code: int, reason: str, *, local: bool = False, resumed: bool = False
) -> ErrorClass:
    """Map a WebSocket close code and reason from the Live API to a retry class.

    docs/live-protocol.md 6.4: 1007 is FATAL (invalid argument, bad key) except on a resumed
    connection, where a non-key 1007 means the handle is unusable; 1008 is FATAL only when the
    reason names a configuration problem (model not found / not supported, publisher model, key
    or permission), "The operation was aborted." and everything unrecognised are TRANSIENT
    (6.2: ABORTED is how a connection's life may end); 1011 is THROTTLED for quota, TRANSIENT
    otherwise. A `local` close (websockets failed the connection) is TRANSIENT.
    """
    if local:
        return ErrorClass.TRANSIENT
    lowered = reason.lower()
    if code == 1007:
        rejected = handle_rejected(code, reason, resumed=resumed)
        return ErrorClass.TRANSIENT if rejected else ErrorClass.FATAL
    if code == 1008:
        if _SESSION_NOT_FOUND in lowered:
            return ErrorClass.TRANSIENT
        return ErrorClass.FATAL if _names_config(lowered) else ErrorClass.TRANSIENT
    if code == 1011 and any(marker in lowered for marker in _QUOTA_MARKERS):
        return ErrorClass.THROTTLED
    return ErrorClass.TRANSIENT


def error_class_of(exc: BaseException) -> ErrorClass:
    """The retry class of any exception: ours carry one; anything else is TRANSIENT (a network
    error from a library, or a bug of ours, which is logged and retried, never fatal)."""
    if isinstance(exc, EdgevoiceError):
        return exc.error_class
    return ErrorClass.TRANSIENT


# --------------------------------------------------------------------------------------------
# The policy


class Action(enum.Enum):
    """What the process does about an error."""

    EXIT = "exit"  # start-up only: exit 78 before anything opens
    ATTENTION = "attention"  # stay up, stop retrying (or retry rarely), show what to fix
    RETRY = "retry"  # drop the connection and reconnect (after backoff unless `backoff=False`)


@dataclass(frozen=True)
class Disposition:
    """The policy's answer for one error. The supervisor reads it; nothing here does I/O.

    - `action`: EXIT (exit status `exit_status`), ATTENTION, or RETRY.
    - `error_class`: the backoff family for RETRY (THROTTLED waits long).
    - `keep_handle`: reconnect with the resumption handle (False: a fresh session).
    - `backoff`: False means reconnect at once (the next attempt differs: no handle).
    - `bounded`: counts toward `MAX_CONSECUTIVE_FAILURES` (see `disposition`).
    - `traceback`: our own bug; log the exception with its traceback.
    - `try_fallback`: another model (live.fallback_models) may work; try it before ATTENTION.
    - `retry_after`: for ATTENTION, seconds until one more try, or None until reload/restart.
    - `headline`: a few words for STATUS= and the LED's reason ("API key refused").
    - `fix`: one line for the journal saying what a person should do next.
    """

    action: Action
    error_class: ErrorClass
    keep_handle: bool = True
    backoff: bool = True
    bounded: bool = False
    traceback: bool = False
    try_fallback: bool = False
    retry_after: float | None = None
    headline: str = ""
    fix: str = ""
    exit_status: int | None = None


_RELOAD = "then run `systemctl reload edgevoice`"
_FIX_KEY = (
    "the Live API refused the credential: put a valid API key in the key file, the systemd "
    f"credential gemini-api-key or $GEMINI_API_KEY (or fix auth.token_command), {_RELOAD}"
)
_FIX_MODEL = (
    "the Live API does not serve live.model on this endpoint: set live.model (and "
    f"live.fallback_models) to a current Live model such as gemini-3.8-live, {_RELOAD}"
)
_FIX_SETUP = (
    "the Live API refused the session setup as invalid: check the live.* settings against "
    f"what the model accepts (`edgevoice check-config`), {_RELOAD}"
)
_FIX_ENDPOINT = f"check live.endpoint, live.api_version and the network path to it, {_RELOAD}"
_FIX_CONFIG = f"fix the configuration problem named above, {_RELOAD}"


def _retry(
    error_class: ErrorClass = ErrorClass.TRANSIENT,
    *,
    keep_handle: bool = True,
    backoff: bool = True,
    bounded: bool = False,
    traceback: bool = False,
) -> Disposition:
    return Disposition(
        Action.RETRY,
        error_class,
        keep_handle=keep_handle,
        backoff=backoff,
        bounded=bounded,
        traceback=traceback,
    )


def _attention(
    headline: str,
    fix: str,
    *,
    keep_handle: bool = True,
    try_fallback: bool = False,
    retry_after: float | None = None,
) -> Disposition:
    return Disposition(
        Action.ATTENTION,
        ErrorClass.FATAL,
        keep_handle=keep_handle,
        try_fallback=try_fallback,
        retry_after=retry_after,
        headline=headline,
        fix=fix,
    )


def _close_disposition(exc: SessionClosedError) -> Disposition:
    lowered = exc.reason.lower()
    code = exc.code
    if exc.local:
        # websockets failed the connection over the server's bytes (bounded: a server that
        # does it every time will not stop by itself), or a keepalive went unanswered
        # (the network: never bounded).
        return _retry(bounded=code in _WIRE_FAILURES)
    if exc.resumption_rejected:
        return _retry(keep_handle=False, backoff=False)
    if exc.error_class is ErrorClass.FATAL:
        if any(m in lowered for m in _KEY_MARKERS):
            return _attention("API key refused", _FIX_KEY)
        if any(m in lowered for m in _MODEL_MARKERS):
            return _attention("model not available", _FIX_MODEL, try_fallback=True)
        return _attention("session setup refused", _FIX_SETUP)
    if exc.error_class is ErrorClass.THROTTLED:
        return _retry(ErrorClass.THROTTLED)
    if code == 1011 and _DEADLINE in lowered:
        return _retry()  # the routine end of a connection's life (section 6.2)
    return _retry(bounded=code in (1008, 1011, *_WIRE_FAILURES))


def _connect_disposition(exc: ConnectError) -> Disposition:
    if exc.error_class is ErrorClass.FATAL:
        if exc.http_status in (401, 403):
            return _attention("API key refused", _FIX_KEY)
        return _attention("endpoint unusable", _FIX_ENDPOINT)
    return _retry(exc.error_class)


def disposition(
    exc: BaseException, *, at_startup: bool = False, consecutive: int = 1
) -> Disposition:
    """What the process does about `exc` (the table in the module docstring).

    `at_startup`: the error happened before the daemon started anything (only then does a
    ConfigError exit). `consecutive`: how many bounded failures in a row this one makes,
    counting it (the supervisor resets its count after a stable connection); past
    `MAX_CONSECUTIVE_FAILURES` a bounded failure becomes ATTENTION with a slow retry.
    """
    result: Disposition
    if isinstance(exc, ConfigError):
        if at_startup:
            return Disposition(
                Action.EXIT,
                ErrorClass.FATAL,
                headline="configuration error",
                fix="fix the configuration problem named above, then start edgevoice again",
                exit_status=ConfigError.exit_status,
            )
        return _attention("configuration error", _FIX_CONFIG)
    if isinstance(exc, SessionClosedError):
        result = _close_disposition(exc)
    elif isinstance(exc, ConnectError):
        result = _connect_disposition(exc)
    elif isinstance(exc, RemoteProtocolError):
        result = _retry(bounded=True)
    elif isinstance(exc, (CredentialError, AudioDeviceError)):
        result = _retry()
    elif isinstance(exc, LocalProtocolError) or not isinstance(exc, (EdgevoiceError, OSError)):
        # Our own bug (TimeoutError is an OSError: a network wait, not a bug).
        result = _retry(traceback=True)
    else:
        result = _retry(error_class_of(exc))
    if result.bounded and consecutive > MAX_CONSECUTIVE_FAILURES:
        return _attention(
            "the Live API keeps failing",
            f"{consecutive} connections in a row failed like this; edgevoice tries again every "
            f"{ATTENTION_RETRY_S / 60:g} min and after `systemctl reload edgevoice`; if it "
            "persists, try another model (live.model, live.fallback_models) or check the "
            "service status",
            keep_handle=False,
            try_fallback=True,
            retry_after=ATTENTION_RETRY_S,
        )
    return result
