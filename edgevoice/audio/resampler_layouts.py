"""How the streaming resampler computes its output samples: one small class per layout.

`StreamingResampler` (in `edgevoice.audio.resampler`) keeps the stream: the input buffer, the
position and the length rule. What it asks of a layout is only this: given the buffered input
(`buf`, whose first sample is input index `buf_start`), compute outputs `k0 .. k_end - 1`. Every
layout computes output k from the same T input samples x[n0 - T/2 + 1 .. n0 + T/2]
(n0 = floor(k * M / L)) and the same phase row, whatever the block it is computed in: that is
what keeps chunked output equal to one-shot output bit for bit.

`choose_layout(in_rate, out_rate, quality)` picks the layout for a ratio L/M (cached and shared:
a layout holds only read-only tables):

- `Identity` (L == M): samples pass through; nothing is computed.
- `Strided` (L == 1, e.g. 48 -> 16 kHz): one filter row over a strided view of the input.
- `Grouped` (M > L > 1, e.g. 44.1 -> 16 kHz): outputs in groups of GROUP share one window.
- `PerInput` (M < L, upsampling): per input position, the outputs that share its window.
- `Interpolated` (L * T too large to tabulate): taps interpolated from a fine kernel.

Core module: numpy only, no I/O.
"""

from __future__ import annotations

import abc
import functools
import math
from typing import ClassVar, Final

import numpy as np
import numpy.typing as npt

from edgevoice.audio.filter_design import (
    TABLE_LIMIT,
    FilterDesign,
    design_filter,
    kernel,
    phase_table,
)

Float32Array = npt.NDArray[np.float32]
_Float64Array = npt.NDArray[np.float64]
_IntArray = npt.NDArray[np.intp]
_BoolArray = npt.NDArray[np.bool_]

# Output samples (or input positions) per einsum call: bounds the temporaries.
BLOCK: Final = 1024
# Outputs per group in the grouped layout: 4 cuts the gathered data by ~4x for 44.1 -> 16 kHz at
# the cost of holding back at most 3 output samples (0.19 ms at 16 kHz).
GROUP: Final = 4


def _frozen(array: npt.NDArray[np.generic]) -> None:
    array.flags.writeable = False


def _join(pieces: list[Float32Array]) -> Float32Array:
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def strided_windows(
    buf: Float32Array, first: int, count: int, step: int, width: int
) -> Float32Array:
    """A read-only (count, width) view: row j is buf[first + j*step : first + j*step + width]."""
    size = buf.itemsize
    view: Float32Array = np.ndarray(
        (count, width), np.float32, buffer=buf, offset=first * size, strides=(step * size, size)
    )
    return view


def _all_windows(buf: Float32Array, width: int) -> Float32Array:
    """Every window of `width` samples in `buf`, as a (n, width) view (row j starts at j)."""
    size = buf.itemsize
    view: Float32Array = np.ndarray(
        (buf.shape[0] - width + 1, width), np.float32, buffer=buf, strides=(size, size)
    )
    return view


class Layout(abc.ABC):
    """The common interface: what a layout tells the stream, and `compute`.

    `group`: outputs are emitted in whole groups of this many (k0 and k_end are multiples).
    `lookahead`: input samples needed after n0 of the first output of a group.
    `passthrough`: True when samples are copied unchanged (compute is never called).
    """

    name: ClassVar[str]
    passthrough: ClassVar[bool] = False

    def __init__(self, design: FilterDesign, *, group: int = 1, lookahead: int | None = None):
        self.design = design
        self.group = group
        self.lookahead = design.taps // 2 if lookahead is None else lookahead

    @abc.abstractmethod
    def compute(self, buf: Float32Array, buf_start: int, k0: int, k_end: int) -> Float32Array:
        """Outputs k0 .. k_end - 1 from `buf` (buf[0] is input index `buf_start`); the caller
        guarantees that every window they read is inside `buf`."""


class Identity(Layout):
    """Equal rates: the stream copies its input; nothing is filtered."""

    name = "identity"
    passthrough = True

    def compute(self, buf: Float32Array, buf_start: int, k0: int, k_end: int) -> Float32Array:
        raise AssertionError("the identity layout computes nothing")  # pragma: no cover


class Strided(Layout):
    """L == 1: output k reads x from k*M - H + 1 on, one strided view and one filter row."""

    name = "strided"

    def __init__(self, design: FilterDesign, table: _Float64Array) -> None:
        super().__init__(design)
        self.row: Float32Array = table[0].astype(np.float32)
        _frozen(self.row)

    def compute(self, buf: Float32Array, buf_start: int, k0: int, k_end: int) -> Float32Array:
        M, T = self.design.down, self.design.taps
        base = k0 * M - T // 2 + 1 - buf_start
        pieces = []
        for k in range(k0, k_end, BLOCK):
            count = min(BLOCK, k_end - k)
            windows = strided_windows(buf, base + (k - k0) * M, count, M, T)
            pieces.append(np.einsum("ij,j->i", windows, self.row))
        return _join(pieces)


class Grouped(Layout):
    """Downsampling by a fractional ratio: outputs in groups of GROUP share one window.

    The G outputs of group g (outputs gG .. gG + G - 1) read windows that start d_i =
    n0(gG + i) - n0(gG) samples apart (d_i <= (G - 1) * M / L + 1), so they are one (G, W)
    matrix of zero-padded phase rows times one contiguous window of W = T + max(d) samples: a
    fancy index gathers W samples per group instead of T per output. Group g and
    g + `patterns` start at the same phase, so `patterns` matrices cover every group.
    """

    name = "grouped"

    def __init__(self, design: FilterDesign, table: _Float64Array) -> None:
        L, M, T = design.up, design.down, design.taps
        G = GROUP
        patterns = L // math.gcd(L, G)
        first = np.arange(patterns + 1, dtype=np.intp) * G  # first output of each group
        within = first[:-1, np.newaxis] + np.arange(G)[np.newaxis, :]
        d = (within * M) // L - ((first[:-1] * M) // L)[:, np.newaxis]
        width = T + int(d.max())
        rows = np.zeros((patterns, G, width))
        for g in range(patterns):
            for i in range(G):
                rows[g, i, d[g, i] : d[g, i] + T] = table[(within[g, i] * M) % L]
        span = np.arange(patterns + BLOCK // G, dtype=np.intp)
        # group_rows[g]: the (G, W) matrix of group g (mod patterns); group_offsets[g]: where
        # its window starts, floor(g * G * M / L), for one cycle of patterns plus one block.
        self.group_rows: Float32Array = np.ascontiguousarray(
            rows[span % patterns].astype(np.float32)
        )
        self.group_offsets: _IntArray = (span * G * M) // L
        self.patterns = patterns
        _frozen(self.group_rows)
        _frozen(self.group_offsets)
        super().__init__(design, group=G, lookahead=width - T // 2)

    def compute(self, buf: Float32Array, buf_start: int, k0: int, k_end: int) -> Float32Array:
        d = self.design
        G, patterns = self.group, self.patterns
        group_rows, group_offsets = self.group_rows, self.group_offsets
        windows = _all_windows(buf, group_rows.shape[2])
        shift = d.taps // 2 - 1 + buf_start
        span = patterns * G * d.down // d.up  # input samples per cycle of patterns
        g0, g_end = k0 // G, k_end // G
        pieces = []
        while g0 < g_end:
            count = min(BLOCK // G, g_end - g0)
            cycle, p = divmod(g0, patterns)
            starts = group_offsets[p : p + count] + (cycle * span - shift)
            y = np.einsum("gij,gj->gi", group_rows[p : p + count], windows[starts])
            pieces.append(y.reshape(-1))
            g0 += count
        return _join(pieces)


class PerInput(Layout):
    """Upsampling: per input position, the at most ceil(L/M) outputs that share its window.

    Input position n = q*M + rho has outputs first(rho) + q*L + s for slots s < count(rho),
    where first(rho) = ceil(rho * L / M); output k has phase k*M mod L. A slot whose phase is a
    unit impulse (every L-th output, every other one for 24 -> 48 kHz) is a copy, not a filter.
    """

    name = "per_input"

    def __init__(self, design: FilterDesign, table: _Float64Array) -> None:
        super().__init__(design)
        L, M, T = design.up, design.down, design.taps
        H = T // 2
        slots = -(-L // M)
        rho = np.arange(M + 1, dtype=np.intp)
        first = -((-rho * L) // M)
        count = first[1:] - first[:-1]
        rho_span = np.arange(M + BLOCK, dtype=np.intp) % M
        # valid[rho, s]: does input position rho have an output in slot s
        self.valid: _BoolArray = np.arange(slots)[np.newaxis, :] < count[rho_span][:, np.newaxis]
        impulse = np.zeros(T)
        impulse[H - 1] = 1.0  # tap H - 1 multiplies x[n] itself
        self.copy_tap = H - 1
        # Per slot: rows by input residue, (M + BLOCK, T), or None when the slot is a copy.
        slot_rows: list[Float32Array | None] = []
        for s in range(slots):
            phases = ((first[:M] + s) * M) % L
            per_rho = np.where((s < count)[:, np.newaxis], table[phases], 0.0)
            if all(np.array_equal(table[p], impulse) for p in phases[s < count]):
                slot_rows.append(None)
            else:
                rows = np.ascontiguousarray(per_rho[rho_span].astype(np.float32))
                _frozen(rows)
                slot_rows.append(rows)
        self.slot_rows = tuple(slot_rows)
        self.uniform = L % M == 0  # every position has all its slots: no mask needed
        _frozen(self.valid)

    def compute(self, buf: Float32Array, buf_start: int, k0: int, k_end: int) -> Float32Array:
        # Emission always covers whole input positions: k0 = first(n_a), k_end = first(n_b).
        L, M, T = self.design.up, self.design.down, self.design.taps
        n_a = (k0 * M) // L
        n_b = ((k_end - 1) * M) // L + 1
        slots = len(self.slot_rows)
        pieces = []
        for n in range(n_a, n_b, BLOCK):
            count = min(BLOCK, n_b - n)
            rho = n % M
            block = np.empty((count, slots), dtype=np.float32)
            start = n - T // 2 + 1 - buf_start
            windows = None
            for s, rows in enumerate(self.slot_rows):
                if rows is None:
                    src = start + self.copy_tap
                    block[:, s] = buf[src : src + count]
                else:
                    if windows is None:
                        windows = strided_windows(buf, start, count, 1, T)
                    np.einsum("ij,ij->i", windows, rows[rho : rho + count], out=block[:, s])
            pieces.append(
                block.reshape(-1) if self.uniform else block[self.valid[rho : rho + count]]
            )
        return _join(pieces)


class Interpolated(Layout):
    """Huge L (e.g. 44101 -> 16000): per-output gather, taps interpolated from a fine kernel.

    The kernel is sampled `oversample` times per input sample; output j of a period starts its
    window offsets[j] = floor(j * M / L) samples after the period's n0.
    """

    name = "interpolated"

    def __init__(self, design: FilterDesign, in_rate: int) -> None:
        super().__init__(design)
        L, M, T = design.up, design.down, design.taps
        self.oversample = int(min(4096, max(256, (1 << 21) // T)))
        grid = np.arange(T * self.oversample + 2, dtype=np.float64) / self.oversample - T // 2
        self.fine: _Float64Array = kernel(grid, design, in_rate)
        self.offsets: _IntArray = (np.arange(L + BLOCK, dtype=np.intp) * M) // L
        _frozen(self.fine)
        _frozen(self.offsets)

    def compute(self, buf: Float32Array, buf_start: int, k0: int, k_end: int) -> Float32Array:
        L, M, T = self.design.up, self.design.down, self.design.taps
        windows = _all_windows(buf, T)
        base = T // 2 - 1 + buf_start
        pieces = []
        for k in range(k0, k_end, BLOCK):
            count = min(BLOCK, k_end - k)
            q, r = divmod(k, L)
            # Output q*L + r + j starts its window offsets[r + j] samples after n0 = q*M.
            starts = self.offsets[r : r + count] + (q * M - base)
            rows = self._rows(r, count)
            pieces.append(np.einsum("ij,ij->i", windows[starts], rows))
        return _join(pieces)

    def _rows(self, r0: int, count: int) -> Float32Array:
        fine, o = self.fine, self.oversample
        L, M, T = self.design.up, self.design.down, self.design.taps
        phase = ((np.arange(r0, r0 + count, dtype=np.intp) * M) % L) * o  # phase * o < L * o
        whole, part = np.divmod(phase, L)
        frac = (part / L)[:, np.newaxis]
        # Tap i of phase p sits at tau = H - 1 - i + p/L: fine index (T-1-i)*o + p*o/L.
        idx = ((T - 1 - np.arange(T, dtype=np.intp)) * o)[np.newaxis, :] + whole[:, np.newaxis]
        lo = fine[idx]
        rows: Float32Array = (lo + frac * (fine[idx + 1] - lo)).astype(np.float32)
        return rows


def choose_layout(in_rate: int, out_rate: int, quality: str = "hq") -> Layout:
    """The layout for converting `in_rate` to `out_rate` (shared; its tables are read-only).

    Raises ValueError for a rate outside SUPPORTED_RATE_RANGE or an unknown quality.
    """
    # Checked before the cache, which would take 16000.0 for 16000.
    design_filter(in_rate, out_rate, quality)
    return _cached_layout(in_rate, out_rate, quality)


@functools.lru_cache(maxsize=32)
def _cached_layout(in_rate: int, out_rate: int, quality: str) -> Layout:
    design = design_filter(in_rate, out_rate, quality)
    L, M = design.up, design.down
    if L == M:
        return Identity(design)
    if L * design.taps > TABLE_LIMIT:
        return Interpolated(design, in_rate)
    table = phase_table(design, in_rate)
    if L == 1:
        return Strided(design, table)
    if M > L:
        return Grouped(design, table)
    return PerInput(design, table)
