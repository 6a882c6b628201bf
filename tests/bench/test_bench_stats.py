"""Percentiles: the figures every latency line of the bench rests on."""

from __future__ import annotations

import math
import random

import pytest

from edgevoice.bench.stats import percentile, summary


def test_median_of_an_even_series_is_the_mean_of_the_middle_two() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5


def test_p95_interpolates_between_ranks() -> None:
    # 1..20: rank (20 - 1) * 0.95 = 18.05 -> between the 19th (19) and 20th (20) value.
    assert percentile([float(v) for v in range(20, 0, -1)], 95) == pytest.approx(19.05)


def test_percentiles_do_not_depend_on_order_and_bound_the_series() -> None:
    values = [random.Random(7).uniform(0, 100) for _ in range(101)]
    shuffled = values[:]
    random.Random(8).shuffle(shuffled)
    assert percentile(values, 95) == percentile(shuffled, 95)
    assert percentile(values, 0) == min(values) and percentile(values, 100) == max(values)
    # 101 values: the 95th percentile is exactly the 96th smallest.
    assert percentile(values, 95) == sorted(values)[95]


def test_one_value_is_every_percentile() -> None:
    assert percentile([3.5], 50) == percentile([3.5], 95) == 3.5


def test_an_empty_series_has_no_figures() -> None:
    assert math.isnan(percentile([], 50))
    assert summary([]) == {"median": None, "p95": None, "n": 0}


def test_summary_reports_median_p95_and_count() -> None:
    got = summary([10.0, 20.0, 30.0, 40.0, 50.0])
    assert got == {"median": 30.0, "p95": pytest.approx(48.0), "n": 5}


@pytest.mark.parametrize("q", [-1, 100.5])
def test_a_percentile_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], q)
