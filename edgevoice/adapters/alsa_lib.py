"""alsa-lib and libjack through ctypes: their chatter captured, and ALSA's configuration checked
before PortAudio starts.

Why. On a machine with the stock ALSA configuration PortAudio's start-up makes alsa-lib and
libjack print 80-100 lines to stderr ("cannot find card '0'", "Unknown PCM cards.pcm.front",
"jack server is not running") around anything useful. And PortAudio 19.6 aborts the whole
process (a C assertion in pa_linux_alsa.c, BuildDeviceList) when the configuration cannot be
read or defines neither `pcm.default` nor `pcm.dmix`: its device list then has no entry it
skips in its first pass, and it asserts that it does.

What this module does:

- `capture_library_messages()` installs alsa-lib's error handler (`snd_lib_error_set_handler`)
  and libjack's error and info functions, once per process. Their messages go to a bounded,
  thread-safe `LibraryMessages` log (and to the debug log) instead of stderr; callers show a
  one-line summary when something fails, so nothing that matters is lost.
- `config_problem()` asks alsa-lib to load its configuration and says, in one line, what to fix
  when it cannot or when `pcm.default` and `pcm.dmix` are both missing.
- `fifo_devices()` lists `file` PCMs whose `infile` or `file` is a FIFO: opening one blocks
  until a program opens the FIFO's other end (PortAudio opens every capture device while it
  starts, and a playback device's file when a stream is set up).

Without alsa-lib (not Linux) every function is a no-op. Linux only does the variadic ALSA
handler: ctypes cannot declare "...", so the handler takes a fixed number of extra
integer-sized arguments, which is how integer and pointer variadic arguments are passed on
x86-64, aarch64 and 32-bit ARM; it stops formatting at the first conversion it cannot read that
way (floating point, long long on 32-bit) and never reads a string it was not told is there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import stat
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from edgevoice.redact import printable

log = logging.getLogger(__name__)

MESSAGE_LIMIT: Final = 500  # messages kept (the newest); older ones are counted only
_EXTRA_ARGS: Final = 6  # variadic arguments the ALSA handler can format
_SND_CONFIG_TYPE_STRING: Final = 3
_SND_CONFIG_TYPE_COMPOUND: Final = 1024
_MAX_CONFIG_DEPTH: Final = 8
SYSTEM_CONFIG: Final = "/usr/share/alsa/alsa.conf"


@dataclass(frozen=True)
class LibraryMessage:
    library: str  # "alsa-lib" or "libjack"
    text: str  # printable: one line, control characters escaped


class LibraryMessages:
    """The messages the audio libraries printed, newest `MESSAGE_LIMIT` kept; thread-safe.

    `mark()` then `since(mark)` gives the messages of one operation (e.g. PortAudio start-up).
    """

    def __init__(self, limit: int = MESSAGE_LIMIT) -> None:
        self._lock = threading.Lock()
        self._messages: deque[LibraryMessage] = deque(maxlen=limit)
        self._total = 0

    def add(self, library: str, text: str) -> None:
        message = LibraryMessage(library, printable(text.strip(), limit=300))
        with self._lock:
            self._messages.append(message)
            self._total += 1
        log.debug("%s: %s", library, message.text)

    def mark(self) -> int:
        with self._lock:
            return self._total

    def since(self, mark: int) -> list[LibraryMessage]:
        """The messages added after `mark` that are still kept (oldest first)."""
        with self._lock:
            kept = self._total - len(self._messages)  # index of the oldest kept message
            return list(self._messages)[max(0, mark - kept) :]

    def count_since(self, mark: int) -> int:
        with self._lock:
            return self._total - mark


MESSAGES = LibraryMessages()


# alsa-lib functions whose messages only echo a failure reported by another message (the
# configuration evaluator's call chain): shown in a summary only when nothing else was said.
_ECHOES = ("_snd_config_evaluate:", "snd_func_", "snd_config_expand:")


def summary(messages: list[LibraryMessage], limit: int = 3) -> str:
    """One line: how many messages, and the first `limit` distinct ones (echoes last)."""
    if not messages:
        return ""
    distinct: list[str] = []
    for message in messages:
        if message.text and message.text not in distinct:
            distinct.append(message.text)
    distinct.sort(key=lambda text: text.startswith(_ECHOES))  # stable: keeps the order
    shown = "; ".join(distinct[:limit])
    more = f" (and {len(distinct) - limit} more kinds)" if len(distinct) > limit else ""
    return f"{len(messages)} message(s) from the audio libraries: {shown}{more}"


# --------------------------------------------------------------------------------------------
# The libraries


def _load(name: str) -> Any:
    path = ctypes.util.find_library(name)
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


_setup_lock = threading.Lock()
_installed = False
_asound: Any = None
_keep: list[Any] = []  # the C callbacks must live as long as the process

_ALSA_HANDLER = ctypes.CFUNCTYPE(
    None,
    ctypes.c_char_p,  # file
    ctypes.c_int,  # line
    ctypes.c_char_p,  # function
    ctypes.c_int,  # err
    ctypes.c_char_p,  # fmt
    *([ctypes.c_void_p] * _EXTRA_ARGS),
)
_JACK_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p)


def asound() -> Any:
    """alsa-lib (a ctypes.CDLL), or None where it is not installed."""
    global _asound
    with _setup_lock:
        if _asound is None:
            lib = _load("asound")
            if lib is not None:
                _declare(lib)
            _asound = lib or False
        return _asound or None


def _declare(lib: Any) -> None:
    vp, ptr = ctypes.c_void_p, ctypes.POINTER
    lib.snd_strerror.restype = ctypes.c_char_p
    lib.snd_strerror.argtypes = [ctypes.c_int]
    lib.snd_config_update_ref.argtypes = [ptr(vp)]
    lib.snd_config_unref.argtypes = [vp]
    lib.snd_config_search.argtypes = [vp, ctypes.c_char_p, ptr(vp)]
    lib.snd_config_get_id.argtypes = [vp, ptr(ctypes.c_char_p)]
    lib.snd_config_get_type.argtypes = [vp]
    lib.snd_config_get_string.argtypes = [vp, ptr(ctypes.c_char_p)]
    for name in ("snd_config_iterator_first", "snd_config_iterator_end"):
        getattr(lib, name).restype = vp
        getattr(lib, name).argtypes = [vp]
    lib.snd_config_iterator_next.restype = vp
    lib.snd_config_iterator_next.argtypes = [vp]
    lib.snd_config_iterator_entry.restype = vp
    lib.snd_config_iterator_entry.argtypes = [vp]
    lib.snd_lib_error_set_handler.argtypes = [_ALSA_HANDLER]


def capture_library_messages(messages: LibraryMessages = MESSAGES) -> None:
    """Send alsa-lib's and libjack's messages to `messages` instead of stderr (idempotent;
    the first call decides where they go)."""
    global _installed
    lib = asound()
    with _setup_lock:
        if _installed:
            return
        _installed = True
        if lib is not None:
            strerror = lib.snd_strerror

            def on_alsa(
                _file: bytes | None,
                _line: int,
                function: bytes | None,
                err: int,
                fmt: bytes | None,
                *args: int | None,
            ) -> None:
                text = format_c(fmt or b"", args)
                where = (function or b"?").decode("utf-8", "replace")
                if err:
                    text += f": {(strerror(err) or b'').decode('utf-8', 'replace')}"
                messages.add("alsa-lib", f"{where}: {text}")

            handler = _ALSA_HANDLER(on_alsa)
            _keep.append(handler)
            lib.snd_lib_error_set_handler(handler)
        jack = _load("jack")
        if jack is not None:

            def on_jack(text: bytes | None) -> None:
                messages.add("libjack", (text or b"").decode("utf-8", "replace"))

            jack_handler = _JACK_HANDLER(on_jack)
            _keep.append(jack_handler)
            for name in ("jack_set_error_function", "jack_set_info_function"):
                setter = getattr(jack, name, None)
                if setter is not None:
                    setter.argtypes = [_JACK_HANDLER]
                    setter(jack_handler)


# One printf conversion: flags, width, precision, length, type.
_CONVERSION = re.compile(rb"%([-+ #0]*)(\d+|\*)?(?:\.(\d+|\*))?(hh|h|ll|l|z|j|t|L)?([a-zA-Z%])")
_WORD_BITS = ctypes.sizeof(ctypes.c_void_p) * 8


def format_c(fmt: bytes, args: tuple[int | None, ...]) -> str:
    """printf-format `fmt` with integer-sized variadic `args` (see the module docstring).

    %s dereferences its argument (the format says it is a string); %d/%i/%u/%x/%o/%c/%p are
    formatted from the integer; anything else (floating point, '*' widths, 64-bit values on a
    32-bit machine) ends the formatting: the rest of `fmt` is shown as it is.
    """
    out: list[str] = []
    pos = 0
    index = 0
    for match in _CONVERSION.finditer(fmt):
        out.append(fmt[pos : match.start()].decode("utf-8", "replace"))
        pos = match.end()
        flags, width, precision, length, kind = match.groups()
        if kind == b"%":
            out.append("%")
            continue
        wide = length in (b"ll", b"j") or (length in (b"l", b"z", b"t") and _WORD_BITS == 64)
        readable = (
            kind in b"sdiuxXocp"
            and width != b"*"
            and precision != b"*"
            and index < len(args)
            and (not wide or _WORD_BITS == 64)
            and length != b"L"
        )
        if not readable:
            pos = match.start()
            break
        raw = args[index] or 0
        index += 1
        bits = 64 if wide else 8 if kind == b"c" else 32
        value = raw & ((1 << bits) - 1) if kind != b"p" else raw
        if kind == b"s":
            text = "(null)" if raw == 0 else ctypes.string_at(raw).decode("utf-8", "replace")
            if precision is not None:
                text = text[: int(precision)]
        elif kind in b"di":
            text = str(value - (1 << bits) if value >= 1 << (bits - 1) else value)
        elif kind == b"u":
            text = str(value)
        elif kind in b"xX":
            text = format(value, "x" if kind == b"x" else "X")
        elif kind == b"o":
            text = format(value, "o")
        elif kind == b"c":
            text = chr(value)
        else:  # p
            text = hex(value)
        if width is not None:
            pad = "0" if b"0" in flags and kind != b"s" else " "
            text = text.ljust(int(width), " ") if b"-" in flags else text.rjust(int(width), pad)
        out.append(text)
    out.append(fmt[pos:].decode("utf-8", "replace"))
    return "".join(out)


# --------------------------------------------------------------------------------------------
# The configuration


def config_source() -> str:
    """Which configuration alsa-lib reads, as a person would name it."""
    path = os.environ.get("ALSA_CONFIG_PATH")
    if path:
        return f"ALSA_CONFIG_PATH={printable(path, limit=200)}"
    return f"the system configuration ({SYSTEM_CONFIG} and what it includes)"


class _Config:
    """The top of alsa-lib's configuration tree, referenced for the duration of a `with`."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self.top = ctypes.c_void_p()
        self.error = lib.snd_config_update_ref(ctypes.byref(self.top))

    def __enter__(self) -> _Config:
        return self

    def __exit__(self, *_: object) -> None:
        if self.error >= 0 and self.top:
            self.lib.snd_config_unref(self.top)

    def search(self, node: Any, key: str) -> Any:
        found = ctypes.c_void_p()
        if self.lib.snd_config_search(node, key.encode(), ctypes.byref(found)) < 0:
            return None
        return found

    def string(self, node: Any, key: str) -> str | None:
        found = self.search(node, key)
        if found is None or self.lib.snd_config_get_type(found) != _SND_CONFIG_TYPE_STRING:
            return None
        value = ctypes.c_char_p()
        if self.lib.snd_config_get_string(found, ctypes.byref(value)) < 0 or not value.value:
            return None
        return value.value.decode("utf-8", "replace")

    def children(self, node: Any) -> list[tuple[str, Any]]:
        lib = self.lib
        if lib.snd_config_get_type(node) != _SND_CONFIG_TYPE_COMPOUND:
            return []
        out = []
        it, end = lib.snd_config_iterator_first(node), lib.snd_config_iterator_end(node)
        while it != end:
            entry = lib.snd_config_iterator_entry(it)
            name = ctypes.c_char_p()
            if lib.snd_config_get_id(entry, ctypes.byref(name)) >= 0 and name.value:
                out.append((name.value.decode("utf-8", "replace"), entry))
            it = lib.snd_config_iterator_next(it)
        return out


def config_problem() -> str | None:
    """Why PortAudio would abort on this ALSA configuration, as one line with the fix; None
    when it is fine (or there is no alsa-lib). Loads alsa-lib's configuration (as PortAudio's
    own start-up would)."""
    lib = asound()
    if lib is None:
        return None
    source = config_source()
    unreadable = _unreadable_config_files()
    if unreadable:
        return (
            f"ALSA cannot read its configuration ({source}): {unreadable}. Point "
            "ALSA_CONFIG_PATH at a readable ALSA configuration file, or unset it to use the "
            "system one"
        )
    with _Config(lib) as config:
        if config.error < 0:
            reason = (lib.snd_strerror(config.error) or b"?").decode("utf-8", "replace")
            return (
                f"ALSA cannot load its configuration ({source}): {reason}. Point "
                "ALSA_CONFIG_PATH at a readable ALSA configuration file, or unset it to use "
                "the system one"
            )
        if config.search(config.top, "pcm.default") is None and (
            config.search(config.top, "pcm.dmix") is None
        ):
            return (
                f"the ALSA configuration ({source}) defines no pcm.default, and PortAudio "
                "cannot start without one: add a `pcm.!default { ... }` entry naming your "
                "device (e.g. type asym with capture.pcm and playback.pcm)"
            )
    return None


def _unreadable_config_files() -> str:
    """What is wrong with the files ALSA_CONFIG_PATH names ("" when nothing or it is unset).

    Checked here because alsa-lib only prints a message for a missing file and then carries on
    with an empty configuration, and a FIFO would block its read for ever. alsa-lib splits the
    variable at ':' and ' '.
    """
    problems = []
    for path in re.split(r"[: ]+", os.environ.get("ALSA_CONFIG_PATH", "")):
        if not path:
            continue
        shown = printable(path, limit=200)
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            problems.append(f"{shown}: {exc.strerror}")
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            problems.append(f"{shown} is not a regular file (reading it could block)")
        elif not os.access(path, os.R_OK):
            problems.append(f"{shown} is not readable by this user")
    return "; ".join(problems)


@dataclass(frozen=True)
class FifoDevice:
    pcm: str  # the top-level PCM name (what `edgevoice devices` lists)
    path: str  # a FIFO it reads (`infile`) or writes (`file`)
    reads: bool  # True: its infile (opening waits for a writer); False: its file (for a reader)

    def waits_for(self) -> str:
        return "writes to it" if self.reads else "reads from it"


def fifo_devices() -> list[FifoDevice]:
    """The `file` PCMs (at any depth inside a PCM definition) whose `infile` or `file` is a
    FIFO: opening one blocks until a program opens the other end."""
    lib = asound()
    if lib is None or _unreadable_config_files():
        return []
    found: list[FifoDevice] = []
    with _Config(lib) as config:
        if config.error < 0:
            return []
        pcms = config.search(config.top, "pcm")
        if pcms is None:
            return []
        for name, node in config.children(pcms):
            for path, reads in _file_paths(config, pcms, node, 0):
                try:
                    is_fifo = stat.S_ISFIFO(os.stat(path).st_mode)
                except OSError:
                    continue
                if is_fifo:
                    found.append(FifoDevice(name, path, reads))
    return found


def _file_paths(config: _Config, pcms: Any, node: Any, depth: int) -> list[tuple[str, bool]]:
    """(path, reads) of every `file` plugin in `node`, following references to other PCMs
    (`capture.pcm "filemic"`, `slave.pcm "x"`, `slave "x"`) a bounded number of levels deep."""
    if depth > _MAX_CONFIG_DEPTH:
        return []
    paths = []
    if config.string(node, "type") == "file":
        for key, reads in (("infile", True), ("file", False)):
            path = config.string(node, key)
            if path:
                paths.append((path, reads))
    for name, child in config.children(node):
        if name in ("pcm", "slave"):
            target = config.string(node, name)
            if target is not None:  # a reference by name (arguments after ':' dropped)
                referenced = config.search(pcms, target.split(":", 1)[0])
                if referenced is not None:
                    paths.extend(_file_paths(config, pcms, referenced, depth + 1))
                continue
        paths.extend(_file_paths(config, pcms, child, depth + 1))
    return paths
