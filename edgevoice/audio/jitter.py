"""The playback jitter buffer: a FIFO of float32 samples between the network and the speaker.

Model audio arrives in bursts; the speaker pulls a fixed period at a time. The buffer holds back
the start of playback until `prebuffer` samples are queued (or `drain()` says no more is coming),
plays silence and counts an underrun when it runs dry mid-stream (then waits for the cushion
again), and on `clear()` (barge-in) throws away everything queued except a short fade-out, so
the speaker goes quiet within one pull without a click.

Core module: pure, synchronous, no I/O, no clock, and NOT thread-safe. The playback adapter
calls it from the event loop (`push`, `clear`, `drain`) and from the PortAudio thread (`pull`)
under one lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Pulled:
    """One period handed to the device.

    `samples` always has exactly the requested length (silence fills any gap). `audio` counts
    how many of them came from queued audio (the fade-out included). `underrun` is True when the
    buffer ran dry while playing and no drain had been requested. `drained` is True on the pull
    that handed out the last queued sample after `drain()`.
    """

    samples: Float32Array
    audio: int
    underrun: bool
    drained: bool


class JitterBuffer:
    """A FIFO of mono float32 samples with a start threshold, underrun counting and barge-in.

    `prebuffer`: samples that must be queued before playback starts (0 starts at once).
    `fade`: length of the fade-out played after `clear()`, in samples (0 cuts hard).
    `capacity`: most samples held; audio pushed beyond it is dropped and counted in `dropped`.
    """

    def __init__(self, *, prebuffer: int, fade: int, capacity: int) -> None:
        if prebuffer < 0 or fade < 0:
            raise ValueError("prebuffer and fade must be >= 0")
        if capacity < max(prebuffer, 1):
            raise ValueError("capacity must be at least max(prebuffer, 1) samples")
        self.prebuffer = prebuffer
        self.fade = fade
        self.capacity = capacity
        self._chunks: deque[Float32Array] = deque()
        self._head = 0  # samples of _chunks[0] already pulled
        self._buffered = 0
        self._fade_out: Float32Array = np.zeros(0, np.float32)
        self._playing = False
        self._draining = False
        self.underruns = 0
        self.dropped = 0
        self.pulled = 0  # every sample handed out, silence included
        self.audio_out = 0  # samples handed out that came from queued audio

    @property
    def buffered(self) -> int:
        """Samples queued and not yet handed out (the pending fade-out not included)."""
        return self._buffered

    @property
    def playing(self) -> bool:
        """True while queued audio is being handed out; False while (pre)buffering or idle."""
        return self._playing

    @property
    def draining(self) -> bool:
        """True from `drain()` until the pull that hands out the last queued sample."""
        return self._draining

    def push(self, samples: Float32Array) -> int:
        """Queue mono samples; returns how many were accepted (the rest count as `dropped`)."""
        room = self.capacity - self._buffered
        accepted = min(room, len(samples))
        if accepted < len(samples):
            self.dropped += len(samples) - accepted
        if accepted > 0:
            self._chunks.append(np.asarray(samples[:accepted], dtype=np.float32))
            self._buffered += accepted
        return accepted

    def drain(self) -> bool:
        """No more audio is coming for now: play what is queued even below the threshold.

        Returns True when there is nothing left to hand out (no need to wait for `drained`).
        """
        if self._buffered == 0 and len(self._fade_out) == 0:
            self._draining = False
            self._playing = False
            return True
        self._draining = True
        return False

    def clear(self) -> int:
        """Barge-in: drop everything queued; the next pull plays only a short fade-out.

        The fade-out continues the waveform where playback stood (the next `fade` queued
        samples, ramped down to zero) so the cut does not click. Nothing is faded when playback
        had not started. Returns how many queued samples were discarded. A pending drain stays
        pending and completes once the fade-out has been handed out.
        """
        if self._playing and self.fade > 0:
            head = self._take(self.fade)
            ramp = np.linspace(1.0, 0.0, self.fade + 1, dtype=np.float32)[1 : len(head) + 1]
            self._fade_out = np.concatenate([self._fade_out, head * ramp]).astype(np.float32)
        discarded = self._buffered
        self._chunks.clear()
        self._head = 0
        self._buffered = 0
        self._playing = False
        return discarded

    def reset(self) -> None:
        """Forget everything queued, the pending fade-out and any drain; counters are kept."""
        self._chunks.clear()
        self._head = 0
        self._buffered = 0
        self._fade_out = np.zeros(0, np.float32)
        self._playing = False
        self._draining = False

    def pull(self, n: int) -> Pulled:
        """Hand out exactly `n` samples: fade-out first, then queued audio, then silence."""
        out = np.zeros(n, np.float32)
        pos = 0
        if len(self._fade_out):
            k = min(n, len(self._fade_out))
            out[:k] = self._fade_out[:k]
            self._fade_out = self._fade_out[k:]
            pos = k
        audio = pos
        underrun = False
        if not self._playing and self._buffered > 0:
            self._playing = self._draining or self._buffered >= self.prebuffer
        if self._playing and pos < n:
            got = self._take(n - pos)
            out[pos : pos + len(got)] = got
            audio += len(got)
            if len(got) < n - pos and not self._draining:
                # Ran dry mid-stream: count it and rebuild the cushion before playing again.
                underrun = True
                self.underruns += 1
                self._playing = False
        drained = False
        if self._draining and self._buffered == 0 and len(self._fade_out) == 0:
            self._draining = False
            self._playing = False
            drained = True
        self.pulled += n
        self.audio_out += audio
        return Pulled(out, audio, underrun, drained)

    def _take(self, n: int) -> Float32Array:
        """Remove and return up to `n` samples from the front of the queue."""
        parts: list[Float32Array] = []
        need = n
        while need > 0 and self._chunks:
            first = self._chunks[0]
            available = len(first) - self._head
            k = min(need, available)
            parts.append(first[self._head : self._head + k])
            need -= k
            if k == available:
                self._chunks.popleft()
                self._head = 0
            else:
                self._head += k
        taken = n - need
        self._buffered -= taken
        if not parts:
            return np.zeros(0, np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)
