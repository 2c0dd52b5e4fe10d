"""The bench's statistics: spreads, ratios of medians, interleaving, percentiles."""

from __future__ import annotations

import pytest

from agenthub.bench.stats import interleaved, percentile, ratio_of_medians, spread


def test_a_spread_is_min_median_max_of_the_series() -> None:
    result = spread([5.0, 1.0, 3.0, 100.0])

    assert (result.minimum, result.median, result.maximum, result.count) == (1.0, 4.0, 100.0, 4)


def test_the_ratio_compares_medians_so_one_outlier_does_not_move_it() -> None:
    measured = [10.0, 11.0, 12.0, 500.0]
    baseline = [5.0, 5.5, 6.0, 6.0]

    assert ratio_of_medians(measured, baseline) == pytest.approx(11.5 / 5.75)


def test_interleaving_alternates_measured_and_baseline() -> None:
    order: list[str] = []

    def measured() -> float:
        order.append("A")
        return 2.0

    def baseline() -> float:
        order.append("B")
        return 1.0

    first, second = interleaved(3, measured, baseline)

    assert order == ["A", "B", "A", "B", "A", "B"]
    assert (first, second) == ([2.0] * 3, [1.0] * 3)


def test_nearest_rank_percentiles() -> None:
    values = [float(value) for value in range(1, 201)]

    assert percentile(values, 0.5) == 100.0
    assert percentile(values, 0.95) == 190.0
    assert percentile([7.0], 0.95) == 7.0


def test_empty_series_and_a_zero_baseline_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        spread([])
    with pytest.raises(ValueError, match="positive"):
        ratio_of_medians([1.0], [0.0])
