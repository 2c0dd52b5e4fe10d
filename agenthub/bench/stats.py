"""Small statistics for benchmarks: spreads, ratios of medians, interleaved pairs."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Spread:
    """min / median / max of one measured series."""

    minimum: float
    median: float
    maximum: float
    count: int

    def as_dict(self, digits: int = 3) -> dict[str, float]:
        return {name: round(value, digits) for name, value in asdict(self).items()}


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("a spread needs at least one value")
    return Spread(min(values), statistics.median(values), max(values), len(values))


def ratio_of_medians(measured: Sequence[float], baseline: Sequence[float]) -> float:
    """How many times the baseline's median the measured median is."""
    base = statistics.median(baseline)
    if base <= 0:
        raise ValueError("the baseline's median must be positive")
    return statistics.median(measured) / base


def interleaved(
    pairs: int, measured: Callable[[], float], baseline: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Runs measured, baseline, measured, baseline, ... so drift on a shared machine hits both alike."""
    first: list[float] = []
    second: list[float] = []
    for _ in range(pairs):
        first.append(measured())
        second.append(baseline())
    return first, second


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (p95 of 200 values is the 190th smallest)."""
    if not values or not 0 < fraction <= 1:
        raise ValueError("a percentile needs values and a fraction in (0, 1]")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]
