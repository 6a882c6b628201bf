"""The resamplers the benchmark compares, behind one streaming interface.

- "edgevoice": edgevoice.audio.dsp.StreamingResampler (quality "hq").
- "soxr-hq": soxr.ResampleStream(quality="HQ", dtype="float32"), the reference to beat.
- "scipy-upfirdn": UpfirdnStream below, a stateful streaming wrapper around
  scipy.signal.upfirdn that uses *the same filter* as edgevoice (same taps, causal).

soxr and scipy are development dependencies: they are imported only when one of their methods
is created, and a missing one raises MissingDependency with a one-line fix.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edgevoice.audio.resampler import StreamingResampler, design_filter, polyphase_table

Float32Array = npt.NDArray[np.float32]

METHODS = ("edgevoice", "soxr-hq", "scipy-upfirdn")


class MissingDependency(RuntimeError):
    """A benchmark needs a development-only package that is not installed."""


class Stream(Protocol):
    """A streaming resampler: feed chunks, then flush once at the end of the stream."""

    def process(self, x: Float32Array) -> Float32Array: ...

    def flush(self) -> Float32Array: ...


def _import(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependency(
            f"the resampler benchmark needs {package} ({error}); install the dev extras: "
            f"pip install -e '.[dev]' (or pip install {package})"
        ) from None


class SoxrStream:
    """soxr.ResampleStream in HQ quality, float32 mono."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        soxr = _import("soxr", "soxr")
        self._stream: Any = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def process(self, x: Float32Array) -> Float32Array:
        y: Float32Array = self._stream.resample_chunk(x, last=False)
        return y

    def flush(self) -> Float32Array:
        y: Float32Array = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        return y


class UpfirdnStream:
    """A streaming resampler made of repeated scipy.signal.upfirdn calls (the baseline).

    It keeps enough input history for the filter, calls upfirdn on history + new chunk and
    slices out the outputs that became complete. The filter is edgevoice's own polyphase
    table laid out as one causal prototype of L * T taps, so the two differ only in how they
    compute, plus a pure delay: this one is causal, so its output lags by T/2 input samples.
    flush() pushes that tail out with T/2 samples of silence.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        signal = _import("scipy.signal", "scipy")
        self._upfirdn: Callable[..., Any] = signal.upfirdn
        design = design_filter(in_rate, out_rate)
        table = polyphase_table(in_rate, out_rate)  # (L, T)
        self._L, self._M, self._T = design.up, design.down, design.taps
        # Prototype tap (T - 1 - i) * L + p multiplies x[n - (T - 1 - i)] for phase p: the
        # phase-p row read backwards, interleaved over the phases.
        self._h = np.ascontiguousarray(table[:, ::-1].T.reshape(-1)).astype(np.float32)
        self._tail = design.taps // 2
        self._reset()

    def _reset(self) -> None:
        self._history = np.zeros(0, dtype=np.float32)
        self._history_start = 0  # global index of history[0]; always a multiple of M
        self._n_in = 0
        self._k = 0

    def process(self, x: Float32Array) -> Float32Array:
        L, M = self._L, self._M
        buf = np.concatenate((self._history, np.asarray(x, dtype=np.float32)))
        self._n_in += len(x)
        k_end = (self._n_in * L + M - 1) // M  # outputs whose newest input has arrived
        if k_end <= self._k:
            return np.zeros(0, dtype=np.float32)
        y = self._upfirdn(self._h, buf, L, M)
        # Because history starts at a multiple of M, upfirdn's output i is global output
        # i + history_start * L / M.
        first = self._history_start * L // M
        out = np.asarray(y[self._k - first : k_end - first], dtype=np.float32)
        self._k = k_end
        # Keep the inputs the next output still needs, from a multiple of M.
        oldest = max(0, (k_end * M) // L - (self._T - 1))
        start = (oldest // M) * M
        self._history = buf[start - self._history_start :]
        self._history_start = start
        return out

    def flush(self) -> Float32Array:
        out = self.process(np.zeros(self._tail, dtype=np.float32))
        self._reset()
        return out


def make_stream(method: str, in_rate: int, out_rate: int) -> Stream:
    """A fresh stream of `method` (one of METHODS) for in_rate -> out_rate."""
    if method == "edgevoice":
        return StreamingResampler(in_rate, out_rate)
    if method == "soxr-hq":
        return SoxrStream(in_rate, out_rate)
    if method == "scipy-upfirdn":
        return UpfirdnStream(in_rate, out_rate)
    raise ValueError(f"unknown resampler method {method!r}; use one of {', '.join(METHODS)}")


def stream_chunks(stream: Stream, x: Float32Array, chunk: int) -> list[Float32Array]:
    """Feed `x` in chunks of `chunk` samples, then flush; return every output piece in order."""
    pieces = [stream.process(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)]
    pieces.append(stream.flush())
    return pieces
