"""Real pyaudio over file-backed ALSA PCMs (docs/environment.md), plus helpers to pace them.

The `file` plugin on a `null` slave is not real time: it runs as fast as PortAudio pulls. Tests
that need a pace use a FIFO as the PCM's file:

- a FIFO as a capture PCM's `infile`: PortAudio's thread blocks in read() until the test
  writes, so the test decides how much audio exists (and a stall is a writer that stops);
- a FIFO as a playback PCM's `file`: PortAudio's thread blocks in write() until the test reads,
  and closing the test's end makes the next write fail (EPIPE), which kills the stream the way
  an unplugged device does.

The test opens each FIFO O_RDWR before PyAudio() probes the devices (a plain open of a FIFO
would block until the other side appears).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt
import pytest

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
BIG_PIPE = 1 << 20  # 1 MiB: a whole test signal fits, so the reader never sees a partial period


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class Fifo:
    """A named pipe the test holds open O_RDWR (both ends), so opens never block."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        self.path = path
        os.mkfifo(path)
        self.fd: int | None = os.open(path, os.O_RDWR)
        if size:
            fcntl.fcntl(self.fd, F_SETPIPE_SZ, size)

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        """Drop the test's end: readers then see EOF, writers get EPIPE."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class FifoDrain:
    """Reads a playback FIFO in a thread, keeping everything it read."""

    def __init__(self, fifo: Fifo) -> None:
        self.fifo = fifo
        self.data = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        os.set_blocking(self._fd, False)
        self._thread.start()

    @property
    def _fd(self) -> int:
        assert self.fifo.fd is not None
        return self.fifo.fd

    def _run(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.01)
            if ready:
                try:
                    self.data += os.read(self._fd, 1 << 16)
                except BlockingIOError:
                    pass

    def stop(self) -> bytes:
        self._stop.set()
        self._thread.join()
        try:
            while chunk := os.read(self._fd, 1 << 16):
                self.data += chunk
        except BlockingIOError:
            pass
        os.set_blocking(self._fd, True)
        return bytes(self.data)


class PacedFifoWriter:
    """Feeds a capture FIFO from a thread: `data`, then silence until stopped, one `chunk` of
    bytes every `seconds_per_chunk`. A few times faster than real time is plenty for the event
    loop to keep up; tests check the bytes, never the timing. Writes are non-blocking, so
    stop() returns even when nobody reads any more."""

    def __init__(self, fifo: Fifo, data: bytes, chunk: int, seconds_per_chunk: float) -> None:
        assert fifo.fd is not None
        self._fd = fifo.fd
        self._data = data
        self._chunk = chunk
        self._interval = seconds_per_chunk
        self._stop = threading.Event()
        os.set_blocking(self._fd, False)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offset = 0
        pending = b""
        while not self._stop.wait(self._interval):
            if not pending:
                pending = self._data[offset : offset + self._chunk].ljust(self._chunk, b"\0")
                offset += self._chunk
            try:
                pending = pending[os.write(self._fd, pending) :]
            except BlockingIOError:  # the pipe is full: nobody is reading right now
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Alsa:
    """Writes a standalone ALSA config and points ALSA_CONFIG_PATH at it."""

    root: Path
    monkeypatch: pytest.MonkeyPatch
    pcms: dict[str, str] = field(default_factory=dict)
    fifos: list[Fifo] = field(default_factory=list)

    def mic(self, name: str, infile: Path, tee: Path | str = "/dev/null") -> str:
        self.pcms[name] = (
            f'pcm.{name} {{ type file slave.pcm {{ type null }} file "{tee}" '
            f'infile "{infile}" format "raw" }}'
        )
        return name

    def speaker(self, name: str, outfile: Path) -> str:
        self.pcms[name] = (
            f'pcm.{name} {{ type file slave.pcm {{ type null }} file "{outfile}" format "raw" }}'
        )
        return name

    def fifo(self, name: str, size: int | None = None) -> Fifo:
        fifo = Fifo(self.root / name, size)
        self.fifos.append(fifo)
        return fifo

    def install(self, capture: str, playback: str) -> Path:
        """Write the config with `default` = (capture, playback) and activate it."""
        text = "\n".join(self.pcms.values())
        text += (
            f'\npcm.!default {{ type asym capture.pcm "{capture}" playback.pcm "{playback}" }}\n'
        )
        path = self.root / "asound.conf"
        path.write_text(text)
        self.monkeypatch.setenv("ALSA_CONFIG_PATH", str(path))
        return path


@pytest.fixture
def alsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Alsa]:
    setup = Alsa(tmp_path, monkeypatch)
    yield setup
    for fifo in setup.fifos:
        fifo.close()


def tones(
    rate: int, seconds: float, freqs: tuple[float, ...], amp: float
) -> npt.NDArray[np.float64]:
    """A sum of sines (float64, peak at most `amp`), starting and ending with a short ramp."""
    t = np.arange(round(rate * seconds)) / rate
    x = sum(np.sin(2 * np.pi * f * t + i) for i, f in enumerate(freqs)) / len(freqs)
    ramp = min(len(t) // 4, rate // 100)
    env = np.ones(len(t))
    env[:ramp] = np.linspace(0, 1, ramp)
    env[len(t) - ramp :] = np.linspace(1, 0, ramp)
    return np.asarray(amp * x * env, dtype=np.float64)


def to_pcm(x: npt.NDArray[np.float64]) -> bytes:
    """float (n,) or (n, channels) in [-1, 1] to interleaved int16 little-endian bytes."""
    return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()


def from_pcm(pcm: bytes, channels: int = 1) -> npt.NDArray[np.float64]:
    x = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    return x.reshape(-1, channels) if channels > 1 else x


def best_alignment(
    got: npt.NDArray[np.float64], ref: npt.NDArray[np.float64], max_lag: int
) -> tuple[int, float]:
    """The lag (got[i + lag] ~ ref[i]) with the highest correlation coefficient, and that value."""
    best = (0, -2.0)
    for lag in range(-max_lag, max_lag + 1):
        a = got[max(lag, 0) :]
        b = ref[max(-lag, 0) :]
        n = min(len(a), len(b))
        if n < 100:
            continue
        c = float(np.corrcoef(a[:n], b[:n])[0, 1])
        if c > best[1]:
            best = (lag, c)
    return best


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (importlib mode cannot import conftest by name)."""
    return SimpleNamespace(
        FakeClock=FakeClock,
        FifoDrain=FifoDrain,
        PacedFifoWriter=PacedFifoWriter,
        BIG_PIPE=BIG_PIPE,
        tones=tones,
        to_pcm=to_pcm,
        from_pcm=from_pcm,
        best_alignment=best_alignment,
    )
