"""The local API's stage throttle (agenthub/local/api.py TokenBucket), on a clock the test moves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agenthub.local.api import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_admits_its_burst_and_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1, burst=2, clock=clock)

    burst = [bucket.take() for _ in range(3)]
    clock.now += 1
    refilled = [bucket.take(), bucket.take()]

    assert burst == [True, True, False]
    assert refilled == [True, False]


@given(
    burst=st.integers(1, 20),
    rate=st.floats(0.1, 100),
    calls=st.integers(0, 40),
    gaps=st.lists(st.floats(0, 3600), min_size=40, max_size=40),
)
def test_a_held_bucket_admits_exactly_its_burst_however_slowly_the_calls_come(
    burst: int, rate: float, calls: int, gaps: list[float]
) -> None:
    clock = Clock()
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    bucket.take()  # half used, then filled again and held
    bucket.refill()
    bucket.hold()

    admitted = 0
    for gap in gaps[:calls]:
        clock.now += gap
        admitted += bucket.take()

    assert admitted == min(calls, burst)
    assert bucket.state()["held"] is True


def test_a_released_bucket_refills_from_its_release_not_from_before() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1, burst=2, clock=clock)
    bucket.hold()
    assert [bucket.take(), bucket.take(), bucket.take()] == [True, True, False]
    clock.now += 100  # held: this time earns nothing

    bucket.release()
    held_time_earned = bucket.take()
    clock.now += 1

    assert held_time_earned is False
    assert bucket.take() is True
    assert bucket.state() == {"rate": 1, "burst": 2, "tokens": 0.0, "held": False}
