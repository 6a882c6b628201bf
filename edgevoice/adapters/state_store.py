"""What survives a restart (resumption handle, mute, volume), as a small JSON file: a `StateStore`.

The file is `<paths.state_dir>/state.json`::

    {"version": 1,
     "resumption": {"handle": "...", "issued_at": 1767225600.0, "model": "gemini-3.8-flash-live"},
     "muted": false, "volume": 80,
     "usage": {"day": "2026-11-05", "audio_seconds": 12.5, "tokens": 900, "turns": 3}}

Writing. Every write is atomic: a fresh temp file (mode 0600, O_EXCL) in the same directory,
then a rename over the old file, so a reader (or a crash) sees the old state or the new one,
never half of each. Writes are coalesced: a change is written at once when the last write was
at least `write_interval` seconds ago, otherwise it waits for the next save, `write_if_due()`,
`flush()` or `close()`. gemini-3.1 sends a handle about every 0.9 s (protocol doc section 6.2),
which would otherwise mean a write (and an SD-card flash erase) per second. No fsync except in
`flush()` and `close()`: after a power cut the file is either a recent complete state or
unreadable, and an unreadable file only costs the conversation context.

Reading. The file is opened without following a symbolic link and without blocking (O_NOFOLLOW,
O_NONBLOCK), then checked before a byte is read: a regular file, owned by this user, not
writable by others, at most `MAX_FILE_BYTES`. Anything else (missing, a FIFO, a symlink, a
device, another owner, oversized, not UTF-8 JSON, a field of the wrong type) is ignored with one
warning line and the defaults are used: the daemon never stops or hangs over its state file. The
handle is a credential for the conversation: it never appears in a log line or an exception.

Thread safety: every method takes one lock, so the event loop can save while a helper thread
runs `flush()`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgevoice.limits import DayUsage
from edgevoice.ports import ResumptionHandle, SavedState, StateStore
from edgevoice.redact import printable

log = logging.getLogger(__name__)

FILE_NAME = "state.json"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 64 * 1024  # far above what the state needs; bounds what load() reads
MAX_HANDLE_CHARS = 4096  # the simulator's handles are 64 characters
MAX_MODEL_CHARS = 256  # a bare model id is about 30
WRITE_INTERVAL = 5.0  # seconds between coalesced writes
FAILURE_LOG_INTERVAL = 300.0  # seconds between repeated "cannot save" warnings


def handle_problem(value: object) -> str | None:
    """Why `value` cannot be stored as a resumption handle (None when it can). Never quotes it."""
    if not isinstance(value, str) or not value:
        return "is not a non-empty string"
    if len(value) > MAX_HANDLE_CHARS:
        return f"has {len(value)} characters, more than {MAX_HANDLE_CHARS}"
    if not value.isascii() or not value.isprintable():
        return "holds characters other than printable ASCII"
    return None


class JsonStateStore:
    """The state file in `state_dir` (created 0700 when missing). Implements `StateStore`.

    `write_interval`: least time between two writes of a burst of changes (seconds, measured
    with `clock`, monotonic and injectable); `fsync`: what makes a file descriptor durable
    (os.fsync; injectable to observe it). Call `load()` once at start-up, before saving.
    """

    def __init__(
        self,
        state_dir: str | Path,
        *,
        write_interval: float = WRITE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        fsync: Callable[[int], None] = os.fsync,
    ) -> None:
        if not math.isfinite(write_interval) or write_interval < 0:
            raise ValueError(f"write_interval must be a finite number >= 0, not {write_interval}")
        self.directory = Path(state_dir)
        self.path = self.directory / FILE_NAME
        self.write_interval = write_interval
        self._clock = clock
        self._fsync = fsync
        self._lock = threading.Lock()
        self._state = SavedState()
        self._dirty = False  # a change not yet written
        self._unsynced = False  # written, but not fsynced yet
        self._last_write: float | None = None
        self._closed = False
        self._last_failure_log: float | None = None

    @property
    def state(self) -> SavedState:
        """The state as it is now in memory (saved changes included, written or not)."""
        with self._lock:
            return self._state

    # ---------------------------------------------------------------------------------------
    # StateStore

    def load(self) -> SavedState:
        """Read the file; defaults (and one warning) for anything missing, hostile or broken."""
        state, problem = self._read()
        if problem is not None:
            log.warning(
                "ignoring the saved state in %s: %s; starting with the defaults",
                printable(str(self.path)),
                problem,
            )
        with self._lock:
            self._state = state
            self._dirty = False
        return state

    def save_resumption(self, handle: ResumptionHandle | None) -> None:
        if handle is not None and (problem := handle_problem(handle.value)) is not None:
            log.warning("resumption handle not saved: it %s; forgetting the saved one", problem)
            handle = None
        self._change(resumption=handle)

    def save_muted(self, muted: bool) -> None:
        self._change(muted=bool(muted))

    def save_volume(self, percent: int) -> None:
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValueError(f"volume must be a whole percent from 0 to 100, not {percent!r}")
        self._change(volume=percent)

    def save_usage(self, usage: DayUsage) -> None:
        self._change(usage=usage)

    def write_if_due(self) -> None:
        with self._lock:
            if self._dirty and self._due():
                self._write(sync=False)

    def flush(self) -> None:
        with self._lock:
            if (self._dirty or self._unsynced) and not self._closed:
                self._write(sync=True)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._dirty or self._unsynced:
                self._write(sync=True)
            self._closed = True

    # ---------------------------------------------------------------------------------------
    # Writing

    def _change(self, **fields: Any) -> None:
        with self._lock:
            old = self._state
            new = SavedState(
                resumption=fields.get("resumption", old.resumption),
                muted=fields.get("muted", old.muted),
                volume=fields.get("volume", old.volume),
                usage=fields.get("usage", old.usage),
            )
            if new == old:
                return
            self._state = new
            self._dirty = True
            if self._due():
                self._write(sync=False)

    def _due(self) -> bool:
        if self._closed:
            return False
        last = self._last_write
        return last is None or self._clock() - last >= self.write_interval

    def _write(self, *, sync: bool) -> None:
        """Write the state atomically (lock held). A failure is logged, never raised; the
        change stays pending and is tried again after the interval."""
        self._last_write = self._clock()
        try:
            data = _encode(self._state)
            _write_atomically(self.directory, self.path, data, self._fsync if sync else None)
        except OSError as exc:
            now = self._clock()
            last = self._last_failure_log
            if last is None or now - last >= FAILURE_LOG_INTERVAL:
                self._last_failure_log = now
                log.warning(
                    "cannot save the state to %s (%s): it is kept in memory only; check that "
                    "paths.state_dir is a directory this user can write",
                    printable(str(self.path)),
                    printable(exc.strerror or type(exc).__name__),
                )
            return
        self._dirty = False
        self._unsynced = not sync

    # ---------------------------------------------------------------------------------------
    # Reading

    def _read(self) -> tuple[SavedState, str | None]:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            log.info("no saved state in %s yet; starting fresh", printable(str(self.path)))
            return SavedState(), None
        except OSError as exc:
            if os.path.islink(self.path):
                return SavedState(), "it is a symbolic link (remove it)"
            return SavedState(), f"cannot open it ({printable(exc.strerror or str(exc))})"
        try:
            problem = _file_problem(os.fstat(fd))
            if problem is not None:
                return SavedState(), problem
            data = _read_at_most(fd, MAX_FILE_BYTES + 1)
        except OSError as exc:
            return SavedState(), f"cannot read it ({printable(exc.strerror or str(exc))})"
        finally:
            os.close(fd)
        if len(data) > MAX_FILE_BYTES:
            return SavedState(), f"it is larger than {MAX_FILE_BYTES} bytes"
        return _decode(data)


def _file_problem(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a directory"
            if stat.S_ISDIR(info.st_mode)
            else "a device or socket"
        )
        return f"it is {kind}, not a regular file (remove it)"
    if info.st_uid != os.geteuid():
        return f"it belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "other users can write it (the daemon writes it with mode 0600)"
    if info.st_size > MAX_FILE_BYTES:
        return f"it is {info.st_size} bytes, more than {MAX_FILE_BYTES}"
    return None


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _encode(state: SavedState) -> bytes:
    document: dict[str, Any] = {"version": FORMAT_VERSION, "muted": state.muted}
    if state.resumption is not None:
        document["resumption"] = {
            "handle": state.resumption.value,
            "issued_at": state.resumption.issued_at,
        }
        if state.resumption.model is not None:
            document["resumption"]["model"] = state.resumption.model
    if state.volume is not None:
        document["volume"] = state.volume
    if state.usage is not None:
        document["usage"] = state.usage.to_json()
    return (json.dumps(document, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


def _decode(data: bytes) -> tuple[SavedState, str | None]:
    """The state in `data`, and a problem (None when all is well). Fields that are wrong are
    left at their defaults; the problem names them (our own key names only, never values)."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return SavedState(), "it is not UTF-8 text"
    except (ValueError, RecursionError):  # JSONDecodeError, huge integers, deep nesting
        return SavedState(), "it is not valid JSON"
    if not isinstance(document, dict):
        return SavedState(), "it is not a JSON object"
    if document.get("version") != FORMAT_VERSION:
        return SavedState(), f"it is not version {FORMAT_VERSION} of the state format"
    bad: list[str] = []
    resumption = _decode_resumption(document.get("resumption"), bad)
    muted = document.get("muted", False)
    if not isinstance(muted, bool):
        bad.append("muted")
        muted = False
    volume = document.get("volume")
    if volume is not None and (
        isinstance(volume, bool) or not isinstance(volume, int) or not 0 <= volume <= 100
    ):
        bad.append("volume")
        volume = None
    usage = None
    if document.get("usage") is not None:
        try:
            usage = DayUsage.from_json(document["usage"])
        except ValueError:
            bad.append("usage")
    state = SavedState(resumption=resumption, muted=muted, volume=volume, usage=usage)
    if bad:
        return state, f"bad value for {', '.join(bad)} (using the default for it)"
    return state, None


def _decode_resumption(value: object, bad: list[str]) -> ResumptionHandle | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        bad.append("resumption")
        return None
    handle, issued_at = value.get("handle"), value.get("issued_at")
    if handle_problem(handle) is not None:
        bad.append("resumption.handle")
        return None
    if (
        isinstance(issued_at, bool)
        or not isinstance(issued_at, (int, float))
        or not math.isfinite(issued_at)
        or issued_at < 0
    ):
        bad.append("resumption.issued_at")
        return None
    model = value.get("model")
    if model is not None and not (
        isinstance(model, str) and 0 < len(model) <= MAX_MODEL_CHARS and model.isprintable()
    ):
        bad.append("resumption.model")
        return None
    assert isinstance(handle, str)
    return ResumptionHandle(handle, float(issued_at), model)


def _write_atomically(
    directory: Path, path: Path, data: bytes, fsync: Callable[[int], None] | None
) -> None:
    """Temp file (0600) in `directory`, then rename over `path`; `fsync` both when given."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=directory)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync is not None:
            fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    os.close(fd)
    try:
        os.replace(temp, path)  # replaces a symlink itself, never what it points to
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if fsync is not None:  # the rename itself is durable only once the directory is
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fsync(dir_fd)
        finally:
            os.close(dir_fd)


if TYPE_CHECKING:  # mypy checks that the adapter satisfies its port
    _port: StateStore = JsonStateStore("/nonexistent")
