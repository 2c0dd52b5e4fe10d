"""What a soak sends, and which fault each request meets: a pure function of the seed.

A pipeline is one `Pipeline` entry in `PIPELINES` (its request body, the functions that serve it,
the Bedrock operation it calls, the tools it asks): a new pipeline is a new entry. A fault is one
`FaultKind` in `FAULTS`: which pipelines it applies to, and how it is planned from the request's
body. Each planned fault says what the request must end as: a fault within the pipeline's retries
must not change the outcome; one past them ends the request FAILED (an expected failure); a
subscriber that fails on a message as often as its queue's maxReceiveCount dead-letters it. A
tool's fault never ends an agent's request: the run tells the model the tool failed or did not
answer in time, and goes on (README "Agents and tools").
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Retries the state machines allow (statemachines/*.asl.json: MaxAttempts 2 on every Lambda task
# and on the invoke pipeline's Converse, 3 on an agent run's Converse, 4 on Bedrock's customization
# calls), and deliveries a subscriber queue allows before its dead-letter queue
# (SubscriberMaxReceiveCount in the local cloud's overrides).
TASK_RETRIES = 2
CONVERSE_RETRIES = 2
AGENT_CONVERSE_RETRIES = 3
CUSTOMIZATION_CALL_RETRIES = 4
MAX_RECEIVE_COUNT = 3
# How long an agent run waits for a tool's answer (ToolAnswerTimeoutSeconds: the soak's local cloud
# is given this value, so a planned delay is known to be within it or past it).
TOOL_ANSWER_TIMEOUT_SECONDS = 12
# A tool's answer planned to come too late comes this long after the wait is over; a slow one that
# is still in time, within SLOW_TOOL_SECONDS.
TOOL_LATE_BY_SECONDS = 1.5
SLOW_TOOL_SECONDS = (1.0, 5.0)
TOO_LATE_SHARE = 0.5
# A tool's faults are what only agents meet (every other kind strikes the other pipelines too):
# each is this much likelier than another kind for a faulted agent request (about two in five).
TOOL_FAULT_WEIGHT = 3.0
# Of the faults planned, this share goes past the retries (an expected failure or dead letter).
PAST_RETRIES_SHARE = 0.2
# Requests also sent a second time at once, with the same key and body.
RACE_SHARE = 0.2
# Requests without a fault that are cancelled as soon as they are accepted.
CANCEL_SHARE = 0.03


class Expect(StrEnum):
    """What a request must end as, given its fault."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the fault outlasted the retries: FAILED is the right answer
    DEAD_LETTERED = "dead_lettered"  # its message ends in a DLQ, and the sweeper fails the request
    CANCELLED = "cancelled"  # cancelled at once: CANCELLED, or SUCCEEDED if the pipeline won the race


@dataclass(frozen=True)
class Caller:
    name: str
    dataset_id: str = ""  # uploaded at the start, for this caller's customizations
    sessions: tuple[str, ...] = ("notes", "support")


@dataclass(frozen=True)
class Pipeline:
    """One kind of request the soak sends."""

    name: str
    weight: float
    # (caller, marker, rng, whether it may use session memory) -> the POST /v1/requests body
    body: Callable[[Caller, str, random.Random, bool], dict[str, Any]]
    trigger: str  # logical id of the function that starts it from request.accepted
    tasks: tuple[str, ...]  # logical ids of its task functions whose payload carries the marker
    model_operation: str = ""  # the Bedrock operation whose request carries the marker
    model_retries: int = 0
    # The tools it may ask (name -> logical id of the tool stack's function); a request's body names
    # the ones it asks in "input.tools".
    tools: tuple[tuple[str, str], ...] = ()


_WORDS = ("hub", "request", "exactly", "once", "queue", "worker", "crash", "pipeline", "catalog", "core")


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _preprocess(caller: Caller, marker: str, rng: random.Random, memory: bool) -> dict[str, Any]:
    return {"pipeline": "preprocess", "input": {"text": f"{marker} {_text(rng, rng.randint(20, 120))}"}}


def _invoke(caller: Caller, marker: str, rng: random.Random, memory: bool) -> dict[str, Any]:
    request: dict[str, Any] = {"prompt": f"{marker} {_text(rng, rng.randint(5, 30))}?"}
    if memory and rng.random() < 0.5:
        request["session_id"] = rng.choice(caller.sessions)
    return {"pipeline": "invoke", "input": request}


def _chained(caller: Caller, marker: str, rng: random.Random, memory: bool) -> dict[str, Any]:
    return {
        "pipeline": "invoke",
        "input": {
            "prompt": f"{marker} summarise the document",
            "preprocess": {"text": f"{marker} {_text(rng, rng.randint(40, 200))}"},
        },
    }


def _customize(caller: Caller, marker: str, rng: random.Random, memory: bool) -> dict[str, Any]:
    return {
        "pipeline": "customize",
        "input": {
            "method": "sft",
            "technique": "lora",
            "base_model": "amazon.nova-lite-v1:0",
            "dataset_id": caller.dataset_id,
            "hyperparameters": {"epochs": 1},
            "output_model_name": marker,  # its name is the only text of a customization
        },
    }


def tool_aim(marker: str) -> str:
    """A twelve-digit number only this request's tool calls carry (as the calculator's operand, as
    the search's query): a tool's arguments are the model's, not the request's, so a fault rule on a
    tool's function aims at this rather than the marker. Built from the marker's digits (the seed's,
    then the request's six), so it is unique within a soak and no aim is inside another."""
    digits = "".join(character for character in marker if character.isdigit())
    return "7" + digits[-11:].rjust(11, "0")


# What an agent asks (the local model calls tools deterministically: agenthub/local/tool_use.py):
# the tools named are exactly those the model calls in its first turn, each once.
_AGENT_ASKS: tuple[tuple[float, tuple[str, ...], str], ...] = (
    (0.35, ("calculator",), "{marker} what is {aim} * {n}?"),
    (0.25, ("search_documents",), "{marker} search my notes for '{aim}'."),
    (
        0.3,
        ("search_documents", "calculator"),
        "{marker} search my notes for '{aim}' and work out {aim} - {n}.",
    ),
    # The calculator answers an error (ToolError): the model is told, and the run goes on.
    (0.1, ("calculator",), "{marker} what is {aim} / 0?"),
)


def _agent(caller: Caller, marker: str, rng: random.Random, memory: bool) -> dict[str, Any]:
    """A question whose answer needs a tool or two; its tools' arguments carry `tool_aim(marker)`,
    which matches no document (the search finds nothing of another request's, nor its marker)."""
    weights = [weight for weight, _, _ in _AGENT_ASKS]
    _, tools, prompt = rng.choices(_AGENT_ASKS, weights)[0]
    request: dict[str, Any] = {
        "prompt": prompt.format(marker=marker, aim=tool_aim(marker), n=rng.randint(2, 99)),
        "tools": list(tools),
    }
    if memory and rng.random() < 0.5:
        request["session_id"] = rng.choice(caller.sessions)
    return {"pipeline": "agent", "input": request}


REQUEST_TOOL = "RequestToolFunction"  # runs once for each call of a turn, all at once (a Map)
AGENT_TOOLS = (("calculator", "CalculatorFunction"), ("search_documents", "SearchDocumentsFunction"))

PIPELINES: tuple[Pipeline, ...] = (
    Pipeline("preprocess", 0.28, _preprocess, "PreprocessTriggerFunction", ("PreprocessFunction",)),
    Pipeline(
        "invoke",
        0.28,
        _invoke,
        "InvokeTriggerFunction",
        ("PrepareModelRequestFunction",),
        "Converse",
        CONVERSE_RETRIES,
    ),
    Pipeline(
        "chained",
        0.12,
        _chained,
        "PreprocessTriggerFunction",
        ("PreprocessFunction", "PrepareModelRequestFunction"),
        "Converse",
        CONVERSE_RETRIES,
    ),
    Pipeline(
        "customize",
        0.12,
        _customize,
        "CustomizeTriggerFunction",
        ("PlanCustomizationJobFunction",),
        "CreateModelCustomizationJob",
        CUSTOMIZATION_CALL_RETRIES,
    ),
    Pipeline(
        "agent",
        0.2,
        _agent,
        "AgentTriggerFunction",
        ("PrepareAgentRunFunction", "AgentTurnsFunction", REQUEST_TOOL),
        "Converse",
        AGENT_CONVERSE_RETRIES,
        AGENT_TOOLS,
    ),
)


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    rule: dict[str, Any] | None = None  # a fault rule for the stand-ins (by logical id: see `function`)
    function: str = ""  # the logical id of the function a rule's "Invoke" aims at
    expect: Expect = Expect.SUCCEEDED


@dataclass(frozen=True)
class FaultKind:
    name: str
    applies: Callable[[Pipeline], bool]
    # (pipeline, marker, rng, the request's body) -> the fault
    plan: Callable[[Pipeline, str, random.Random, dict[str, Any]], PlannedFault]
    weight: float = 1.0  # against the other kinds that apply to the request's pipeline


def _times(rng: random.Random, retries: int, past: int) -> tuple[int, Expect, bool]:
    """How often a fault strikes: within the retries, or (PAST_RETRIES_SHARE) as often as `past`."""
    if rng.random() < PAST_RETRIES_SHARE:
        return past, Expect.FAILED, True
    return rng.randint(1, retries), Expect.SUCCEEDED, False


def _model_fault(name: str, errors: dict[str, tuple[str, ...]]) -> FaultKind:
    """A Bedrock error the pipeline's state machine retries, by the operation it strikes."""

    def plan(pipeline: Pipeline, marker: str, rng: random.Random, body: dict[str, Any]) -> PlannedFault:
        times, expect, _ = _times(rng, pipeline.model_retries, pipeline.model_retries + 1)
        error = rng.choice(errors[pipeline.model_operation])
        rule = {"operation": pipeline.model_operation, "match": marker, "error": error, "times": times}
        return PlannedFault(name, rule, expect=expect)

    return FaultKind(name, lambda pipeline: pipeline.model_operation in errors, plan)


def _task_fault(error: str, name: str) -> FaultKind:
    def plan(pipeline: Pipeline, marker: str, rng: random.Random, body: dict[str, Any]) -> PlannedFault:
        function = rng.choice(pipeline.tasks)
        # A task run for each tool call of a turn at once fails past its retries only once one of
        # them has failed more often than the retries: as often as all of them could absorb, and once.
        at_once = len(body["input"].get("tools") or ()) if function == REQUEST_TOOL else 1
        times, expect, _ = _times(rng, TASK_RETRIES, TASK_RETRIES * max(1, at_once) + 1)
        rule = {"operation": "Invoke", "match": marker, "error": error, "times": times}
        return PlannedFault(name, rule, function, expect)

    return FaultKind(name, lambda pipeline: bool(pipeline.tasks), plan)


def _subscriber_fault(
    name: str, function_of: Callable[[Pipeline], str], may_dead_letter: bool = True
) -> FaultKind:
    """A subscriber that fails on the request's message: before its work, or after it (its answer
    lost). Each failure fails the whole invocation, so the rest of its batch is delivered again too."""

    def plan(pipeline: Pipeline, marker: str, rng: random.Random, body: dict[str, Any]) -> PlannedFault:
        times, expect, past = _times(rng, MAX_RECEIVE_COUNT - 1, MAX_RECEIVE_COUNT)
        if past and not may_dead_letter:
            times, expect, past = MAX_RECEIVE_COUNT - 1, Expect.SUCCEEDED, False
        rule = {
            "operation": "Invoke",
            "match": marker,
            "error": "Runtime.ExitError",
            "times": times,
            "after_effect": not past and rng.random() < 0.5,
        }
        # Past the receives, the trigger's message is dead-lettered and the request never starts.
        return PlannedFault(name, rule, function_of(pipeline), Expect.DEAD_LETTERED if past else expect)

    return FaultKind(name, lambda pipeline: True, plan)


def _tool_fault(name: str, rule_of: Callable[[random.Random], dict[str, Any]]) -> FaultKind:
    """A tool's function failing or slow on one of the request's calls (aimed at by `tool_aim`).

    It never ends the request: a call the tool does not answer within TOOL_ANSWER_TIMEOUT_SECONDS
    is an error result the model is told about, and the run goes on (its answer, if it comes,
    resumes nothing). A crashed call's message comes back only after its queue's visibility timeout
    (the subscriber timeout, longer than the wait, as on AWS), so any crash is a timed-out call."""

    def plan(pipeline: Pipeline, marker: str, rng: random.Random, body: dict[str, Any]) -> PlannedFault:
        functions = dict(pipeline.tools)
        tool = rng.choice(body["input"]["tools"])
        rule = {"operation": "Invoke", "match": tool_aim(marker), **rule_of(rng)}
        return PlannedFault(name, rule, functions[tool], Expect.SUCCEEDED)

    return FaultKind(name, lambda pipeline: bool(pipeline.tools), plan, TOOL_FAULT_WEIGHT)


def _tool_crash(rng: random.Random) -> dict[str, Any]:
    """Within the receives, before its work or after it (its answer sent, then the call comes back
    and is answered again: a second answer resumes nothing); past them, the call is dead-lettered."""
    times, _, past = _times(rng, MAX_RECEIVE_COUNT - 1, MAX_RECEIVE_COUNT)
    return {
        "error": "Runtime.ExitError",
        "times": times,
        "after_effect": not past and rng.random() < 0.5,
    }


def _tool_timeout(rng: random.Random) -> dict[str, Any]:
    """The tool answers late: past the run's wait (told to the model as a call that timed out), or
    slow but still in time. The delay stays under the soak's subscriber timeout, so the call is not
    delivered again meanwhile (with --subscriber-timeout under it, the second delivery may answer)."""
    if rng.random() < TOO_LATE_SHARE:
        delay = TOOL_ANSWER_TIMEOUT_SECONDS + TOOL_LATE_BY_SECONDS
    else:
        delay = round(rng.uniform(*SLOW_TOOL_SECONDS), 1)
    return {"delay_seconds": delay, "times": 1}


def _action(name: str) -> FaultKind:
    """A fault the soak acts out while the request runs, rather than a rule."""
    return FaultKind(name, lambda pipeline: True, lambda pipeline, marker, rng, body: PlannedFault(name))


WORKER_KILLED = "worker_killed"
HUB_REDELIVERY = "hub_redelivery"
FAULTS: tuple[FaultKind, ...] = (
    # The errors each state machine retries (statemachines/*.asl.json), per operation.
    _model_fault(
        "bedrock_throttling",
        {"Converse": ("ThrottlingException",), "CreateModelCustomizationJob": ("ThrottlingException",)},
    ),
    _model_fault(
        "bedrock_5xx",
        {
            "Converse": ("InternalServerException", "ServiceUnavailableException"),
            "CreateModelCustomizationJob": ("InternalServerException",),
        },
    ),
    _model_fault("bedrock_timeout", {"Converse": ("ModelTimeoutException",)}),
    _task_fault("Runtime.ExitError", "task_crash"),
    _task_fault("Sandbox.Timedout", "task_timeout"),
    _subscriber_fault("trigger_crash", lambda pipeline: pipeline.trigger),
    # Not past the receives: which of the request's events the crashes strike (and so what a dead
    # letter would leave undone) depends on timing, and the plan must say what the request ends as.
    _subscriber_fault("core_writer_failure", lambda pipeline: "CoreWriterFunction", may_dead_letter=False),
    _tool_fault("tool_crash", _tool_crash),
    _tool_fault("tool_timeout", _tool_timeout),
    _action(WORKER_KILLED),
    _action(HUB_REDELIVERY),
)


@dataclass(frozen=True)
class PlannedRequest:
    index: int
    marker: str
    caller: str
    pipeline: str
    body: dict[str, Any]
    fault: PlannedFault | None = None
    race: bool = False  # sent twice at once with the same key
    cancel: bool = False
    expect: Expect = Expect.SUCCEEDED
    key: str = field(default="")


def marker_for(seed: int, index: int) -> str:
    """A text unique to one request, found in everything it passes through (so a fault rule can aim
    at it), and a valid model name. The trailing letter keeps one marker from prefixing another."""
    return f"soak{seed}-{index:06d}q"


def plan_requests(count: int, fault_rate: float, seed: int, callers: list[Caller]) -> list[PlannedRequest]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible plan, not a secret  # nosec B311
    weights = [pipeline.weight for pipeline in PIPELINES]
    planned = []
    for index in range(count):
        pipeline = rng.choices(PIPELINES, weights)[0]
        caller = rng.choice(callers)
        marker = marker_for(seed, index)
        faulted = rng.random() < fault_rate
        # A faulted request stays out of session memory: its marker would reach later requests'
        # model calls (as an earlier turn) and its fault rule with it.
        body = pipeline.body(caller, marker, rng, not faulted)
        fault = None
        if faulted:
            kinds = [kind for kind in FAULTS if kind.applies(pipeline)]
            kind = rng.choices(kinds, [kind.weight for kind in kinds])[0]
            fault = kind.plan(pipeline, marker, rng, body)
        cancel = fault is None and rng.random() < CANCEL_SHARE
        expect = fault.expect if fault else (Expect.CANCELLED if cancel else Expect.SUCCEEDED)
        planned.append(
            PlannedRequest(
                index,
                marker,
                caller.name,
                pipeline.name,
                body,
                fault,
                race=rng.random() < RACE_SHARE,
                cancel=cancel,
                expect=expect,
                key=f"{marker}-key",
            )
        )
    return planned
