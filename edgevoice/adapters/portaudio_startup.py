"""PortAudio's start-up and release: one at a time, checked, bounded, and quiet.

- `start_portaudio(factory)` creates a PyAudio handle (PortAudio probes every ALSA device there).
  It first captures the audio libraries' messages (`alsa_lib`), refuses an ALSA configuration
  PortAudio would abort the process on, and bounds the start-up: a device that blocks while
  PortAudio opens it (a `file` PCM reading a FIFO with no writer) gives an AudioDeviceError that
  names it, instead of a hang.
- `stop_portaudio(pa)` releases a handle.
- `blocked_hint(device)` says what most likely blocks a device open, for a hang's message.

PortAudio's initialise and terminate touch unprotected global state: two at once corrupt its heap
(seen here as glibc's "free(): invalid next size"). Both therefore run under one lock, which a
stuck start-up keeps until PortAudio returns. PortAudio builds its device list when the first
PyAudio instance of the process is created and keeps it until the last one is terminated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pyaudio

from edgevoice.adapters import alsa_lib
from edgevoice.errors import AudioDeviceError
from edgevoice.redact import printable

log = logging.getLogger(__name__)

PortAudio = Any  # a pyaudio.PyAudio instance (untyped library)

# Seconds PortAudio's start-up (it opens every ALSA device to probe it) may take before it is
# reported as blocked. It takes well under a second on a Pi, even with the stock configuration.
STARTUP_TIMEOUT = 10.0

# Held while PortAudio initialises or terminates; a start-up that hangs keeps it, so no second
# one runs alongside it inside PortAudio's unprotected global state.
_portaudio_lock = threading.Lock()
# The FIFO-backed devices found before the latest start-up: what to name when something hangs.
_fifo_devices: list[alsa_lib.FifoDevice] = []


def fifo_backed() -> dict[str, list[alsa_lib.FifoDevice]]:
    """The devices found (at the latest start-up) to read or write a FIFO, by PCM name."""
    by_name: dict[str, list[alsa_lib.FifoDevice]] = {}
    for fifo in list(_fifo_devices):
        by_name.setdefault(fifo.pcm, []).append(fifo)
    return by_name


def blocked_hint(device: str | None = None) -> str:
    """What most likely blocks a device open, for the message of a hang (one clause); about
    `device` alone when it is one of the FIFO-backed devices."""
    fifos = list(dict.fromkeys(_fifo_devices))
    own = [f for f in fifos if f.pcm == device]
    fifos = own or fifos
    source = alsa_lib.config_source()
    if len(fifos) == 1:
        fifo = fifos[0]
        verb = "reads" if fifo.reads else "writes to"
        return (
            f"the ALSA device {fifo.pcm!r} {verb} {printable(fifo.path, limit=200)}, a FIFO: "
            f"opening it waits until a program {fifo.waits_for()}. Start that program, or "
            f"remove the device from the ALSA configuration ({source})"
        )
    if fifos:
        named = ", ".join(f"{f.pcm!r} ({printable(f.path, limit=200)})" for f in fifos)
        return (
            f"the ALSA devices {named} use FIFOs: opening one waits until a program opens its "
            "other end. Start the programs on the other ends, or remove the devices from the "
            f"ALSA configuration ({source})"
        )
    return (
        "an ALSA device blocks when opened (a `file` device on a pipe, a sound server or "
        f"driver that does not answer); check the ALSA configuration ({alsa_lib.config_source()})"
        " and what `aplay -L` lists"
    )


def start_portaudio(
    factory: Callable[[], PortAudio] = pyaudio.PyAudio, *, timeout: float = STARTUP_TIMEOUT
) -> PortAudio:
    """Create a PyAudio handle (`factory()`), checked and bounded. Blocking; any thread.

    Raises AudioDeviceError when the ALSA configuration would make PortAudio abort the
    process (the message says what to fix), when start-up has not finished within `timeout`
    seconds (the message names the device that most likely blocks; the stuck start-up is left
    behind in its daemon thread, and a handle it still makes is released), or when an earlier
    start-up is still stuck. Release the handle with `stop_portaudio`.
    """
    alsa_lib.capture_library_messages()
    deadline = time.monotonic() + timeout
    if not _portaudio_lock.acquire(timeout=max(0.0, timeout)):
        raise AudioDeviceError(
            f"PortAudio is still blocked in an earlier start-up: {blocked_hint()}; restart "
            "edgevoice once that is fixed"
        )
    outcome: dict[str, Any] = {}
    guard = threading.Lock()
    done = threading.Event()

    def target() -> None:
        try:
            problem = alsa_lib.config_problem()
            if problem is not None:
                raise AudioDeviceError(problem)
            _fifo_devices[:] = alsa_lib.fifo_devices()
            outcome["pa"] = factory()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            with guard:
                outcome["finished"] = True
                late = outcome.get("abandoned", False)
            if late and "pa" in outcome:
                outcome["pa"].terminate()  # nobody waits for it any more; the lock is still ours
            _portaudio_lock.release()
            done.set()

    threading.Thread(target=target, name="edgevoice-portaudio-start", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        with guard:
            if not outcome.get("finished"):
                outcome["abandoned"] = True
                raise AudioDeviceError(
                    f"PortAudio did not finish opening the ALSA devices within {timeout:g} s: "
                    f"{blocked_hint()}"
                )
        done.wait()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["pa"]


def stop_portaudio(pa: PortAudio, *, timeout: float = STARTUP_TIMEOUT) -> None:
    """Release a handle from `start_portaudio` (blocking; waits for a start-up in progress, at
    most `timeout` seconds, then leaves the handle unreleased with a warning)."""
    if not _portaudio_lock.acquire(timeout=max(0.0, timeout)):
        log.warning("PortAudio is blocked in a start-up; a device handle is left unreleased")
        return
    try:
        pa.terminate()
    finally:
        _portaudio_lock.release()
