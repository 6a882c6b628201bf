"""Trace points: when things happen inside the daemon, for `edgevoice bench` and the soak run.

Off by default, and free when off: every trace point is one check of the module attribute
`TRACER` (None unless tracing is on). It is turned on by the environment variable
`EDGEVOICE_TRACE_SOCKET` (the path of a Unix datagram socket the measuring process has bound,
like systemd's NOTIFY_SOCKET): `start_from_environment()` (the daemon calls it at build time)
then makes a `Tracer` and a flusher thread that sends what was marked to that socket every
`FLUSH_S` seconds.

Every timestamp is `time.monotonic()` (CLOCK_MONOTONIC, one clock for every process of the
machine), so the measuring process can set them against its own.

The wire format is plain text, one event per line, several lines per datagram:

    <name> <seconds, 6 decimals> [<value>]

Names (the trace points; each says where it sits):

- `ctl <command>`: a control-socket request reached the daemon (app/daemon.py), e.g.
  `ctl press`, before the conversation handles it.
- `ws.setup`, `ws.activity_start`, `ws.audio`, `ws.activity_end`, `ws.stream_end`, `ws.text`:
  that client frame was handed to the socket (adapters/ws.py: after websockets' `send()`
  returned, i.e. the frame was written to the kernel's socket buffer).
- `ws.setup_complete`, `ws.recv_audio`: a server frame that carried setupComplete, or reply
  audio, was read from the socket; the time is taken as the read returns, before decoding.
- `play.push <samples>`: reply or earcon audio was queued for the speaker (resampled, in the
  jitter buffer); `play.clear`: playback was cleared (barge-in, interrupted).
- `play.start <samples>`: the PortAudio callback handed the first audible samples to the device
  after silence; `play.stop <samples>`: it handed a period in which the audio ends (`samples`
  of audio, then silence; nothing audible is handed after it). The callback itself only appends
  `(time, audio samples, period samples)` to `Tracer.pulls` (no lock, no I/O, no logging on the
  audio thread); the flusher thread turns that series into start/stop events.

Memory is bounded (`CAPACITY` events of each kind, the oldest dropped and counted); a socket
that is gone or full drops the batch (counted in `Tracer.lost`). Tracing never raises into the
daemon.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

ENV = "EDGEVOICE_TRACE_SOCKET"
FLUSH_S = 0.1  # how often the flusher sends what was marked (10 wakeups a second)
CAPACITY = 16_384  # events (and pulls) kept between two flushes, at most
MAX_DATAGRAM = 8_192  # bytes of one datagram (well under the default socket limits)

Event = tuple[str, float, str]


class Tracer:
    """The marks of one process and the thread that sends them (see the module docstring).

    `mark()` may be called from any thread; `pulls` is appended to by the playback callback
    only. `sender(bytes)` sends one datagram (default: to `path`); `clock` is monotonic seconds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        sender: Callable[[bytes], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = CAPACITY,
        flush_s: float = FLUSH_S,
    ) -> None:
        if (path is None) == (sender is None):
            raise ValueError("give a socket path or a sender, not both")
        self.clock = clock
        self.events: deque[Event] = deque(maxlen=capacity)
        # (callback time, audio samples handed, samples handed): appended on the audio thread.
        self.pulls: deque[tuple[float, int, int]] = deque(maxlen=capacity)
        self.flush_s = flush_s
        self.sent = 0  # events sent
        self.lost = 0  # events in batches the socket refused
        self._audible = False  # the last pull handed audio that goes on into the next one
        self._sock: socket.socket | None = None
        if sender is None:
            assert path is not None
            self._path = str(Path(path))
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._sock = sock
            sender = self._send_to_socket
        self._sender = sender
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flush at a time (the thread, close())
        self._thread: threading.Thread | None = None

    def mark(self, name: str, value: object = "", at: float | None = None) -> None:
        """Record that `name` happened now (or at `at`, monotonic seconds), with `value`."""
        self.events.append((name, self.clock() if at is None else at, str(value)))

    # -- turning the callback's pulls into events (off the audio thread) -----------------------

    def _pull_events(self) -> list[Event]:
        found: list[Event] = []
        pulls = self.pulls
        while pulls:
            at, audio, frames = pulls.popleft()
            if audio > 0 and not self._audible:
                found.append(("play.start", at, str(audio)))
                self._audible = True
            if self._audible and audio < frames:
                found.append(("play.stop", at, str(audio)))
                self._audible = False
        return found

    # -- sending ---------------------------------------------------------------------------------

    def start(self) -> Tracer:
        """Start the flusher thread (a daemon thread: it never holds the process up)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="edgevoice-trace", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()

    def flush(self) -> None:
        """Send everything marked so far (callable from any thread)."""
        with self._lock:
            batch: list[Event] = []
            events = self.events
            while events:
                batch.append(events.popleft())
            batch += self._pull_events()
            if not batch:
                return
            lines = [f"{name} {at:.6f} {value}".rstrip() + "\n" for name, at, value in batch]
            chunk: list[str] = []
            size = 0
            for line in lines:
                if chunk and size + len(line) > MAX_DATAGRAM:
                    self._send(chunk)
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            self._send(chunk)

    def _send(self, lines: list[str]) -> None:
        try:
            self._sender("".join(lines).encode())
        except OSError:  # nobody listens any more, or its queue is full: drop, never raise
            self.lost += len(lines)
        else:
            self.sent += len(lines)

    def _send_to_socket(self, data: bytes) -> None:
        assert self._sock is not None
        self._sock.sendto(data, self._path)

    def close(self) -> None:
        """Stop the thread and send what is left."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self.flush()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


# The process's tracer, or None (tracing off). Trace points read it once each:
#     if (tracer := trace.TRACER) is not None: tracer.mark("ws.audio")
TRACER: Tracer | None = None


def start_from_environment(environ: Mapping[str, str] | None = None) -> Tracer | None:
    """Turn tracing on when `EDGEVOICE_TRACE_SOCKET` is set (and not on already); the tracer."""
    global TRACER
    env = os.environ if environ is None else environ
    path = env.get(ENV, "")
    if TRACER is None and path:
        TRACER = Tracer(path).start()
    return TRACER


def stop() -> None:
    """Turn tracing off: send what is left and stop the thread (a no-op when it is off)."""
    global TRACER
    tracer, TRACER = TRACER, None
    if tracer is not None:
        tracer.close()
