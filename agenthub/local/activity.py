"""Whether the local cloud has finished what was started: what tests, `--follow`, the soak and the
bench wait for, instead of a length of time.

Pending work, by kind (an `Activity` names each item):

- a message in a queue that an event source (a local SQS poller) serves: visible, in flight (received,
  not yet deleted: its delivery is under way or it comes back after the visibility timeout) or delayed.
  Dead-letter queues are not work (the sweeper and a redrive act on them when asked), nor is a queue
  that no event source serves (a follower's tap queue, a mapping that is disabled);
- a poller holding a batch (received, not yet deleted or given back);
- a Lambda invocation in flight in the function host, whoever asked for it: a poller, the Lambda API
  (RequestResponse or Event), Step Functions, the local API, the scheduler, a custom resource;
- a Step Functions execution that is RUNNING (or being started);
- a call to the local API in flight.

An execution that waits on a timer (a customization job's "Wait before checking the job") or on a task
token (an agent run waiting for a tool's answer) is RUNNING, so it is pending work: the wait lasts until
the timer fires or the token's timeout passes (ToolAnswerTimeoutSeconds for a tool that never answers,
the customization time limit for a job that never ends). One that waits for a token with no timeout
keeps the local cloud busy for good: a wait for quiet then ends at its deadline and names it. Schedules
are not pending work (the sweeper's next run is minutes away); a scheduled run in flight is. Nor is an
execution environment warming up ahead of its first invocation (after start-up, for half a minute): it
is shown, but nothing waits for it, and an invocation that waits for its slot is pending itself.

Sound against races: a sample reads the kinds one after another, and work can move from a kind not yet
read to one already read (an execution publishes, then ends). Every component bumps one counter
(`Changes`) on each change of its state (a batch received or given back, an invocation started or ended,
an execution started or ended, an API call begun or answered), so a sample during which the counter did
not move saw one moment of the local cloud. (A message a function or an execution publishes is in its
queues before the Publish call returns, inside that invocation or execution: that hand-over needs no
bump of its own.) Quiet is two consecutive such samples with nothing pending
and the counter unchanged across both. Between samples, a wait sleeps on the counter's condition and
looks again at least every `OBSERVE_SECONDS`: a delayed message or a visibility timeout runs out
without anyone bumping it. That is observing the local cloud's own state, not waiting for a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
# How often a wait looks again when nothing was signalled (timers and visibility timeouts run out silently).
OBSERVE_SECONDS = 0.1
# A sample whose counter moved is taken again; after this many, it is reported as it is (unsettled).
MAX_RESAMPLES = 20


class Changes:
    """The counter every part of the local cloud bumps when its state changes, and a way to wait for it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._changed:
            return self._generation

    def bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait_after(self, generation: int, timeout: float) -> int:
        """Waits until the counter is past `generation` or `timeout` seconds have passed; its value."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != generation, max(0.0, timeout))
            return self._generation


# One per process, as moto's backends are: the executions moto runs bump it from its own threads.
CHANGES = Changes()


@dataclass(frozen=True)
class QueueCounts:
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


@dataclass(frozen=True)
class Activity:
    """What the local cloud still had to do at one moment, by name."""

    generation: int
    settled: bool = True  # the counter did not move while this was read
    queues: dict[str, QueueCounts] = field(default_factory=dict)  # queue name -> its messages
    executions: tuple[str, ...] = ()  # "<state machine>/<execution>", RUNNING
    invocations: dict[str, int] = field(default_factory=dict)  # function name -> invocations in flight
    warming: tuple[str, ...] = ()  # functions starting an execution environment ahead of use
    pollers: dict[str, int] = field(default_factory=dict)  # event source -> batches it holds
    api_calls: int = 0  # calls to the local API not yet answered

    @property
    def pending(self) -> bool:
        # Warming environments are shown, not waited for: nothing the local cloud was asked to do waits.
        return any((self.queues, self.executions, self.invocations, self.pollers, self.api_calls))

    @property
    def quiet(self) -> bool:
        return self.settled and not self.pending

    def describe(self) -> str:
        parts = []
        for name, counts in sorted(self.queues.items()):
            held = [
                f"{count} {what}"
                for count, what in (
                    (counts.visible, "visible"),
                    (counts.in_flight, "in flight"),
                    (counts.delayed, "delayed"),
                )
                if count
            ]
            parts.append(f"queue {name}: {', '.join(held)}")
        parts += [f"poller {name}: {count} batch(es) held" for name, count in sorted(self.pollers.items())]
        parts += [
            f"function {name}: {count} invocation(s)" for name, count in sorted(self.invocations.items())
        ]
        parts += [f"execution {name}: RUNNING" for name in self.executions]
        if self.api_calls:
            parts.append(f"{self.api_calls} local API call(s) in flight")
        if not parts:
            parts.append(
                "nothing pending" if self.settled else "nothing pending, but it changed while it was read"
            )
        if self.warming:
            parts.append(f"warming up (not waited for): {', '.join(self.warming)}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "settled": self.settled,
            "quiet": self.quiet,
            "queues": {name: vars(counts) for name, counts in self.queues.items()},
            "executions": list(self.executions),
            "invocations": self.invocations,
            "warming": list(self.warming),
            "pollers": self.pollers,
            "api_calls": self.api_calls,
            "description": self.describe(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Activity:
        return cls(
            generation=int(data["generation"]),
            settled=bool(data["settled"]),
            queues={str(name): QueueCounts(**counts) for name, counts in data.get("queues", {}).items()},
            executions=tuple(data.get("executions", ())),
            invocations={str(name): int(count) for name, count in data.get("invocations", {}).items()},
            warming=tuple(data.get("warming", ())),
            pollers={str(name): int(count) for name, count in data.get("pollers", {}).items()},
            api_calls=int(data.get("api_calls", 0)),
        )


def sample(changes: Changes, read: Callable[[], dict[str, Any]]) -> Activity:
    """One reading of everything pending (`read` gives Activity's fields), taken again while the
    counter moves during it, so that what it reports was all true at one moment."""
    for _ in range(MAX_RESAMPLES):
        before = changes.generation
        fields = read()
        after = changes.generation
        if after == before:
            return Activity(generation=after, **fields)
    return Activity(generation=after, settled=False, **fields)


class WaitTimedOut(TimeoutError):
    """A wait reached its deadline; the message says what was still pending."""

    def __init__(self, message: str, activity: Activity) -> None:
        super().__init__(message)
        self.activity = activity


class NotQuiet(WaitTimedOut):
    pass


class NeverHappened(WaitTimedOut):
    pass


class Waiter(Protocol):
    """A local cloud that can be watched: in this process (`LocalCloud`) or over its control API."""

    def activity(self) -> Activity: ...

    def wait_change(self, after: int, timeout: float) -> int:
        """Waits until the counter is past `after` (or `timeout` seconds); its value."""
        ...


def settle(waiter: Waiter, timeout: float) -> Activity:
    """Waits until the local cloud is quiet, at most `timeout` seconds; the last reading, quiet or not
    (a quiet reading that a second one could not confirm by the deadline is returned as unsettled)."""
    deadline = time.monotonic() + timeout
    while True:
        current = waiter.activity()
        if current.quiet:
            confirmed = waiter.activity()
            if confirmed.quiet and confirmed.generation == current.generation:
                return confirmed
            current = confirmed
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return replace(current, settled=False) if current.quiet else current
        if current.pending:
            waiter.wait_change(current.generation, min(OBSERVE_SECONDS, remaining))


def wait_quiet(waiter: Waiter, timeout: float) -> Activity:
    """Waits until the local cloud is quiet; `NotQuiet`, naming what was pending, at the deadline."""
    activity = settle(waiter, timeout)
    if not activity.quiet:
        raise NotQuiet(f"the local cloud was still busy after {timeout:g} s: {activity.describe()}", activity)
    return activity


def wait_for(
    waiter: Waiter,
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    describe_pending: Callable[[], str] | None = None,
) -> T:
    """The first true value of `predicate`, asked again on every change in the local cloud (and at
    least every OBSERVE_SECONDS); `NeverHappened`, naming `what` and what was pending (the waiter's
    activity, or `describe_pending`), at the deadline."""
    deadline = time.monotonic() + timeout
    generation = waiter.activity().generation
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            activity = waiter.activity()
            pending = describe_pending() if describe_pending is not None else activity.describe()
            raise NeverHappened(
                f"{what} did not happen within {timeout:g} s; pending then: {pending}", activity
            )
        generation = waiter.wait_change(generation, min(OBSERVE_SECONDS, remaining))


class Watch:
    """A `Waiter` in this process: `read` gives what is pending (Activity's fields; by default
    nothing: then it only knows when something changed, for parts run without a local cloud)."""

    def __init__(self, read: Callable[[], dict[str, Any]] | None = None, changes: Changes = CHANGES) -> None:
        self._read = read or dict
        self._changes = changes

    def activity(self) -> Activity:
        return sample(self._changes, self._read)

    def wait_change(self, after: int, timeout: float) -> int:
        return self._changes.wait_after(after, timeout)


class ServedQueue(Protocol):
    """What a poller tells of itself (agenthub.local.pollers.SqsPoller)."""

    @property
    def queue_name(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def batches_held(self) -> int: ...


class Invocations(Protocol):
    """What a function host tells of itself (agenthub.local.functions.FunctionHost)."""

    def in_flight(self) -> dict[str, int]: ...

    def warming(self) -> list[str]: ...


def pending_work(
    account_id: str,
    region: str,
    pollers: Iterable[ServedQueue],
    functions: Invocations | None = None,
    api_calls: int = 0,
) -> dict[str, Any]:
    """Activity's fields for the local cloud's parts in this process: the queues the pollers serve, the
    batches they hold, the function host's invocations, moto's executions, the local API's calls."""
    pollers = list(pollers)
    return {
        "queues": queue_counts(account_id, region, {poller.queue_name for poller in pollers}),
        "pollers": {poller.name: held for poller in pollers if (held := poller.batches_held)},
        "invocations": functions.in_flight() if functions is not None else {},
        "warming": tuple(functions.warming()) if functions is not None else (),
        "executions": running_executions(account_id, region),
        "api_calls": api_calls,
    }


# -- reading moto's state (the emulator runs in this process) ----------------------------------------


def queue_counts(account_id: str, region: str, names: Iterable[str]) -> dict[str, QueueCounts]:
    """The messages of these SQS queues that are still to be handled, for those that hold any."""
    from moto.sqs.models import sqs_backends

    queues = sqs_backends[account_id][region].queues
    found = {}
    for name in names:
        queue = queues.get(name)
        if queue is None:
            continue
        visible = in_flight = delayed = 0
        for message in list(queue._messages):
            if message.delayed:
                delayed += 1
            elif not message.visible:
                in_flight += 1
            else:
                visible += 1
        if visible or in_flight or delayed:
            found[name] = QueueCounts(visible, in_flight, delayed)
    return found


def running_executions(account_id: str, region: str) -> tuple[str, ...]:
    """Every Step Functions execution that is RUNNING, or created and not yet started."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account_id][region]
    running = []
    for machine in list(backend.state_machines):
        for execution in list(machine.executions):
            # The interpreter's executions: no status yet while StartExecution creates one.
            if getattr(execution, "exec_status", None) in (None, ExecutionStatus.RUNNING):
                running.append(f"{machine.name}/{execution.name}")
    return tuple(sorted(running))
