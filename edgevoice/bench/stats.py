"""Median and 95th percentile of a series of measurements (no I/O, no numpy needed).

`percentile` interpolates linearly between the two nearest ranks (the definition numpy and
spreadsheets use by default): the 50th percentile of [1, 2, 3, 4] is 2.5, the 95th of 1..20 is
19.05. `summary` is what the bench reports for each latency: median, p95 and the count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`th percentile (0..100) of `values`; NaN for an empty series.

    Raises ValueError for q outside 0..100."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"a percentile is between 0 and 100, not {q!r}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """{"median", "p95", "n"} of `values` (None for the figures of an empty series)."""
    if not values:
        return {"median": None, "p95": None, "n": 0}
    return {"median": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}
