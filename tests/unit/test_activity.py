"""What the local cloud counts as pending, and how a wait decides it is quiet (agenthub/local/activity.py)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agenthub.local import activity
from agenthub.local.activity import Activity, Changes, NeverHappened, NotQuiet, QueueCounts

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=20)
counts = st.builds(QueueCounts, st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)).filter(
    lambda queue: queue.total > 0
)
activities = st.builds(
    Activity,
    generation=st.integers(0, 10**6),
    settled=st.booleans(),
    queues=st.dictionaries(names, counts, max_size=3),
    executions=st.lists(names, max_size=3, unique=True).map(tuple),
    invocations=st.dictionaries(names, st.integers(1, 4), max_size=3),
    warming=st.lists(names, max_size=3, unique=True).map(tuple),
    pollers=st.dictionaries(names, st.integers(1, 2), max_size=3),
    api_calls=st.integers(0, 3),
)


@given(activities)
def test_quiet_is_nothing_pending_in_a_settled_reading_whatever_is_warming(found: Activity) -> None:
    pending = bool(found.queues or found.executions or found.invocations or found.pollers or found.api_calls)

    assert found.pending is pending
    assert found.quiet is (found.settled and not pending)
    assert replace(found, warming=()).quiet is found.quiet  # a warm-up is shown, never waited for


@given(activities)
def test_the_description_names_everything_pending(found: Activity) -> None:
    described = found.describe()

    for name in [*found.queues, *found.executions, *found.invocations, *found.pollers, *found.warming]:
        assert name in described
    assert ("nothing pending" in described) is (not found.pending)
    if found.api_calls:
        assert f"{found.api_calls} local API call(s)" in described


@given(activities)
def test_an_activity_reads_back_from_its_json_as_it_was(found: Activity) -> None:
    as_json = found.to_json()

    assert Activity.from_json(as_json) == found
    assert as_json["quiet"] is found.quiet
    assert as_json["description"] == found.describe()


def test_a_reading_during_which_the_counter_moved_is_taken_again() -> None:
    changes, reads = Changes(), []

    def read() -> dict[str, object]:
        reads.append(1)
        if len(reads) == 1:
            changes.bump()  # an execution ended while the queues were being read
        return {}

    found = activity.sample(changes, read)

    assert len(reads) == 2
    assert found.settled
    assert found.quiet
    assert found.generation == changes.generation


def test_a_reading_that_never_holds_still_is_reported_unsettled_and_not_quiet() -> None:
    changes = Changes()

    def read() -> dict[str, object]:
        changes.bump()
        return {}

    found = activity.sample(changes, read)

    assert not found.settled
    assert not found.quiet
    assert "changed while it was read" in found.describe()


class Scripted:
    """A waiter that hands out readings in order (the last one for ever after) and records its waits."""

    def __init__(self, *readings: Activity) -> None:
        self._readings = list(readings)
        self.waits: list[tuple[int, float]] = []

    def activity(self) -> Activity:
        return self._readings.pop(0) if len(self._readings) > 1 else self._readings[0]

    def wait_change(self, after: int, timeout: float) -> int:
        self.waits.append((after, timeout))
        return after


BUSY = Activity(generation=1, queues={"work": QueueCounts(in_flight=1)})


def test_quiet_takes_two_quiet_readings_with_no_change_between() -> None:
    waiter = Scripted(
        BUSY,
        Activity(generation=2),  # quiet, but the counter moved before the next reading:
        Activity(generation=4),  # something began and ended in between; not yet confirmed
        Activity(generation=4),
    )

    found = activity.wait_quiet(waiter, timeout=30)

    assert found == Activity(generation=4)
    assert waiter.waits == [(1, activity.OBSERVE_SECONDS)]  # it waited only while something was pending


def test_a_wait_for_quiet_names_what_was_still_pending_at_its_deadline() -> None:
    with pytest.raises(NotQuiet) as raised:
        activity.wait_quiet(Scripted(BUSY), timeout=0.05)

    assert "still busy after 0.05 s" in str(raised.value)
    assert "queue work: 1 in flight" in str(raised.value)
    assert raised.value.activity == BUSY


def test_a_quiet_reading_that_could_not_be_confirmed_by_the_deadline_is_not_quiet() -> None:
    waiter = Scripted(Activity(generation=1), Activity(generation=2))

    found = activity.settle(waiter, timeout=0)

    assert not found.quiet
    with pytest.raises(NotQuiet):
        activity.wait_quiet(Scripted(Activity(generation=1), Activity(generation=2)), timeout=0)


@pytest.fixture
def changes() -> Changes:
    return Changes()


def test_a_wait_for_an_event_asks_again_when_the_counter_moves(changes: Changes) -> None:
    happened = threading.Event()
    waiter = activity.Watch(changes=changes)
    asked: list[bool] = []

    def predicate() -> str | None:
        asked.append(happened.is_set())
        return "it happened" if happened.is_set() else None

    def happen() -> None:
        happened.set()
        changes.bump()

    threading.Thread(target=happen).start()
    assert activity.wait_for(waiter, predicate, 30, "the event") == "it happened"
    assert asked[-1] is True
    assert asked.count(True) == 1  # not asked again once it was true


def test_a_wait_for_an_event_that_never_comes_names_it_and_what_was_pending(changes: Changes) -> None:
    waiter = activity.Watch(lambda: {"executions": ("AgentRun/agent-1",)}, changes)

    with pytest.raises(NeverHappened) as raised:
        activity.wait_for(waiter, lambda: None, 0.05, "the tool's answer")

    assert str(raised.value).startswith("the tool's answer did not happen within 0.05 s")
    assert "execution AgentRun/agent-1: RUNNING" in str(raised.value)


def test_a_wait_for_a_change_ends_at_the_bump_not_at_its_timeout(changes: Changes) -> None:
    before = changes.generation
    bumper = threading.Thread(target=changes.bump)
    bumper.start()

    after = changes.wait_after(before, timeout=60)
    bumper.join()

    assert after == before + 1
