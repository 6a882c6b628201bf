"""Recording a sink's monitor continuously, with every chunk stamped with its arrival time.

`SpeakerRecorder` runs parecord on `spksink.monitor` (what the speaker played) or
`micsink.monitor` (what was played into the microphone), raw mono 48 kHz, read by a thread.
Silence is recorded too, so a position in the recording maps to wall time
(`SpeakerRecording.time_at` / `index_at` / `between`), and `wait_level` waits on the event loop
until sound starts or stops.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgevoice.rig.processes import spawn, stop_process
from edgevoice.rig.pulse import SINK_RATE, SPK_SINK, PulseServer
from edgevoice.rig.signals import Samples, envelope_db, from_pcm, to_pcm, write_wav

POLL_S = 0.05


@dataclass
class SpeakerRecording:
    """What reached the speaker: mono samples at SINK_RATE, and when each chunk arrived."""

    samples: Samples
    stamps: list[tuple[int, float]]  # (samples received so far, time.monotonic() on arrival)
    rate: int = SINK_RATE

    def time_at(self, index: int) -> float:
        """Wall time (monotonic) a sample was played, from the chunk arrival times.

        A sample arrives at most one recorder latency (20 ms) after it was played, so this is
        good to a few tens of ms; the recording itself is continuous (silence included).
        Raises ValueError before two chunks have arrived.
        """
        counts = np.array([c for c, _ in self.stamps], dtype=np.float64)
        times = np.array([t for _, t in self.stamps], dtype=np.float64)
        if len(counts) < 2:
            raise ValueError("recording too short to map positions to times")
        # Fit count -> time with rate fixed: the offset is the smallest arrival - count / rate
        # (the chunk that was read with the least delay).
        first = float(np.min(times - counts / self.rate))
        return first + index / self.rate

    def index_at(self, when: float) -> int:
        """The sample position played at wall time `when` (see time_at)."""
        return round((when - self.time_at(0)) * self.rate)

    def between(self, start: float, end: float) -> Samples:
        """The samples played between two wall times."""
        a, b = max(0, self.index_at(start)), max(0, self.index_at(end))
        return self.samples[a:b]


class SpeakerRecorder:
    """Records a sink's monitor continuously (parecord, raw mono 48 kHz) from a thread.

    By default the speaker (`spksink.monitor`). `snapshot()` gives what arrived so far;
    `stop()` ends the recording, writes `wav_path` and returns the SpeakerRecording.
    """

    def __init__(
        self, server: PulseServer, wav_path: Path, source: str = f"{SPK_SINK}.monitor"
    ) -> None:
        self.wav_path = wav_path
        self.process = spawn(
            [
                "parecord", "-d", source, "--raw", "--format=s16le",
                f"--rate={SINK_RATE}", "--channels=1", "--latency-msec=20",
            ],
            env=server.env,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        self.started = time.monotonic()
        self._data = bytearray()
        self._stamps: list[tuple[int, float]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True, name="rig-recorder")
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            with self._lock:
                self._data += chunk
                self._stamps.append((len(self._data) // 2, now))

    @property
    def seconds(self) -> float:
        """Audio recorded so far."""
        return len(self._data) / 2 / SINK_RATE

    def snapshot(self) -> SpeakerRecording:
        with self._lock:
            data = bytes(self._data[: len(self._data) // 2 * 2])
            stamps = list(self._stamps)
        return SpeakerRecording(from_pcm(data), stamps)

    async def wait_samples(self, seconds: float, timeout_s: float = 10.0) -> None:
        """Wait on the event loop until `seconds` of audio have been recorded.
        Raises TimeoutError past `timeout_s` (a hang guard)."""
        deadline = time.monotonic() + timeout_s
        while self.seconds < seconds:
            if time.monotonic() > deadline:
                raise TimeoutError(f"recorder got under {seconds:g} s in {timeout_s:g} s")
            await asyncio.sleep(0.02)

    async def wait_level(
        self,
        *,
        loud: bool,
        after: float,
        threshold_dbfs: float = -50.0,
        hold_s: float = 0.02,
        timeout_s: float = 20.0,
    ) -> float:
        """Wait until the level has been above (`loud`) or below `threshold_dbfs` for `hold_s`
        (in 10 ms windows), in audio played after wall time `after`. Returns the wall time
        (monotonic) that stretch began. Raises TimeoutError past `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        window = SINK_RATE // 100
        need = max(1, round(hold_s * 100))
        while True:
            recording = self.snapshot()
            if len(recording.stamps) >= 2:
                start = max(0, recording.index_at(after))
                env = envelope_db(recording.samples[start:], SINK_RATE, 10.0)
                hits = env > threshold_dbfs if loud else env <= threshold_dbfs
                run = 0
                for i, hit in enumerate(hits):
                    run = run + 1 if hit else 0
                    if run >= need:
                        return recording.time_at(start + (i - need + 1) * window)
            if time.monotonic() > deadline:
                what = "sound" if loud else "quiet"
                raise TimeoutError(f"no {what} ({threshold_dbfs:g} dBFS) for {hold_s:g} s")
            await asyncio.sleep(POLL_S)

    @property
    def recording(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> SpeakerRecording:
        """End the recording, write `wav_path` (mono 48 kHz) and return what was recorded."""
        stop_process(self.process)
        self._thread.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        recording = self.snapshot()
        write_wav(self.wav_path, to_pcm(recording.samples), SINK_RATE, 1)
        return recording
