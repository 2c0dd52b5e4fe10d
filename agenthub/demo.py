"""`agenthub demo` (what `make demo` runs): the whole hub, locally, driven by the sample requests.

Starts the local cloud from template.yaml, signs in a local user, sends the sample requests in
events/front_door/ through the local API, follows each to its end, prints one table and a
summary, stops everything, and exits non-zero if any request did not do what its row says: each
row states its promise (both tools answered; the customized model's deployment answered) and
checks it, so a status that looks right over a result that is not (a tool that timed out in an
agent that still SUCCEEDED) is a `!!` row, never `ok`.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from agenthub import PROJECT_ROOT
from agenthub.client import HubClient, Reply
from agenthub.local.cloud import LocalCloud, LocalCloudConfig, LocalCloudError
from agenthub.local.emulator import PortInUse
from agenthub.local.tokens import user_token
from agenthub.terminal import literal

SAMPLES = PROJECT_ROOT / "events" / "front_door"
DATASETS = PROJECT_ROOT / "events" / "customization"
USER = "demo"


# What a row's request must have done, beyond ending with the expected status: a view (or, for
# a refused request, the hub's answer) -> what it did not do, or None.
Check = Callable[[dict[str, Any]], str | None]


@dataclass
class Scenario:
    label: str
    sample: str | None  # a file in events/front_door/, sent as it is
    expect: str  # a terminal status, "replayed", or an HTTP status such as "400"
    promise: str  # what the row says the request does, in words
    check: Check
    body: dict[str, Any] | None = None  # instead of a sample's body
    same_as: str | None = None  # resend an earlier scenario's request (same key and body)
    dataset: str | None = None  # a file in events/customization/ to upload first, as the input's dataset
    changes: dict[str, Any] = field(default_factory=dict)  # fields to set in the sample's input


@dataclass
class Outcome:
    scenario: Scenario
    pipeline: str = ""
    path: list[str] = field(default_factory=list)
    seconds: float = 0.0
    excerpt: str = ""
    request_id: str = ""
    got: str = ""
    broken: str | None = None  # what the request did not do of its row's promise
    details: list[str] = field(default_factory=list)

    @property
    def as_expected(self) -> bool:
        return self.got == self.scenario.expect and self.broken is None


def _result(view: dict[str, Any]) -> dict[str, Any]:
    result = view.get("result")
    return result if isinstance(result, dict) else {}


def _chunked(view: dict[str, Any]) -> str | None:
    stats = _result(view).get("stats") or {}
    chunks = _result(view).get("chunks") or []
    if not chunks or stats.get("chunks") != len(chunks):
        return f"no chunks in the result (stats {stats.get('chunks')!r}, {len(chunks)} chunk(s) listed)"
    return None


def _answered(view: dict[str, Any]) -> str | None:
    result = _result(view)
    if not str(result.get("output_text") or "").strip():
        return "the model gave no text"
    if result.get("stop_reason") != "end_turn":
        return f"the model stopped with {result.get('stop_reason')!r}, not end_turn"
    return None


def _answered_with_history(view: dict[str, Any]) -> str | None:
    turns = _result(view).get("history_turns")
    if not isinstance(turns, int) or turns < 1:
        return f"the model was given {turns!r} earlier turn(s) of the session, not the one before"
    return _answered(view)


def _answered_from_document(view: dict[str, Any]) -> str | None:
    document = _result(view).get("document") or {}
    if not document.get("chunks"):
        return "the model was not given the preprocessed document"
    return _answered(view)


def _calls(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [call for call in _result(view).get("transcript") or [] if isinstance(call, dict)]


def _tools_answered(*tools: str) -> Check:
    """Every tool call answered successfully, and each of `tools` was called."""

    def check(view: dict[str, Any]) -> str | None:
        calls = _calls(view)
        failed = [call for call in calls if call.get("outcome") != "success"]
        if failed:
            return "; ".join(
                f"{call.get('tool')} answered {call.get('outcome')}: {call.get('answer')}" for call in failed
            )
        missing = [tool for tool in tools if tool not in {call.get("tool") for call in calls}]
        if missing:
            return f"the agent never called {', '.join(missing)}"
        return _answered(view)

    return check


def _tool_answered_its_own_error(tool: str, error: str) -> Check:
    """The tool was reached and answered with its own error (not a timeout), and the agent went on."""

    def check(view: dict[str, Any]) -> str | None:
        calls = _calls(view)
        if [call.get("tool") for call in calls] != [tool]:
            return f"the agent called {[call.get('tool') for call in calls]}, not {tool} once"
        (call,) = calls
        if call.get("outcome") != "error" or error not in str(call.get("answer")):
            return (
                f"{tool} answered {call.get('outcome')}: {call.get('answer')} (not its own error, {error!r})"
            )
        return _answered(view)

    return check


def _refused_naming(*fields: str) -> Check:
    def check(answer: dict[str, Any]) -> str | None:
        named = {str(problem.get("field")) for problem in answer.get("errors") or []}
        missing = [name for name in fields if name not in named]
        return (
            f"the refusal does not name {', '.join(missing)} (it names {sorted(named)})" if missing else None
        )

    return check


def _dry_run(view: dict[str, Any]) -> str | None:
    result = _result(view)
    if result.get("dry_run") is not True or result.get("started") is not False:
        return "the dry run is not reported as one that started nothing"
    if not (result.get("would_start") or {}).get("api_call"):
        return "the dry run does not say what it would have called"
    return None


def _trained(deployed: bool) -> Check:
    def check(view: dict[str, Any]) -> str | None:
        model = _result(view).get("model") or {}
        if not (model.get("arn") or model.get("artifacts_uri")):
            return "no trained model in the result"
        if deployed and not model.get("deployment_arn"):
            return "the model was trained but not deployed"
        return None

    return check


def _on_custom_model(view: dict[str, Any]) -> str | None:
    model_id = str(_result(view).get("model_id", ""))
    if ":custom-model-deployment/" not in model_id:
        return f"the request ran on {model_id or 'no model'}, not the customized model's deployment"
    return _answered(view)


def _rejected_dataset(view: dict[str, Any]) -> str | None:
    error = view.get("error") or {}
    problems = [problem for report in error.get("report") or [] for problem in report.get("errors", [])]
    if error.get("error") != "InvalidDataset" or not problems:
        return f"it failed with {error.get('error')!r}, not the validator's InvalidDataset report"
    return None


def _published_once(view: dict[str, Any]) -> str | None:
    accepted = [entry for entry in view.get("history", []) if entry.get("event_type") == "request.accepted"]
    return None if len(accepted) == 1 else f"request.accepted was published {len(accepted)} times"


SCENARIOS = [
    Scenario(
        "preprocess a document",
        "post_request_preprocess.json",
        "SUCCEEDED",
        "the text is cleaned and split into chunks in the data lake",
        _chunked,
    ),
    Scenario(
        "invoke the model (session ada-notes)",
        "post_request_invoke.json",
        "SUCCEEDED",
        "the model answers the prompt",
        _answered,
    ),
    Scenario(
        "invoke again in the same session",
        None,
        "SUCCEEDED",
        "the model answers, given the session's earlier turn",
        _answered_with_history,
        body={
            "pipeline": "invoke",
            "input": {"prompt": "Which of those matters most?", "session_id": "ada-notes"},
        },
    ),
    Scenario(
        "chained: preprocess, then invoke",
        "post_request_chained.json",
        "SUCCEEDED",
        "the model answers, given the document the preprocess stage made",
        _answered_from_document,
    ),
    Scenario(
        "preprocess field notes",
        None,
        "SUCCEEDED",
        "the notes are chunked, for the agent to search",
        _chunked,
        body={"pipeline": "preprocess", "input": {"text": "Field notes. The battery lasts 12 hours."}},
    ),
    Scenario(
        "an agent searches the notes, computes",
        "post_request_agent.json",
        "SUCCEEDED",
        "search_documents and calculator both answer, and the agent answers",
        _tools_answered("search_documents", "calculator"),
    ),
    Scenario(
        "an agent whose tool answers an error",
        None,
        "SUCCEEDED",
        "the calculator answers its own error (division by zero), and the agent still answers",
        _tool_answered_its_own_error("calculator", "division by zero"),
        body={"pipeline": "agent", "input": {"prompt": "What is 7 / 0?", "tools": ["calculator"]}},
    ),
    Scenario(
        "the first request again (same key)",
        None,
        "replayed",
        "the first answer again, under the first request's id, published once",
        _published_once,
        same_as="preprocess a document",
    ),
    Scenario(
        "an invalid request",
        "post_request_rejected.json",
        "400",
        "refused before anything runs, naming each bad field",
        _refused_naming("input.prompt", "input.inference.temperature"),
    ),
    Scenario(
        "customize Nova 2 Lite (RFT), a dry run",
        None,
        "SUCCEEDED",
        "says what job it would start, and starts none",
        _dry_run,
        body={
            "pipeline": "customize",
            "input": {
                "method": "rft",
                "technique": "lora",
                "base_model": "amazon.nova-2-lite-v1:0",
                "dataset_id": "",
                "output_model_name": "hub-arithmetic",
                "dry_run": True,
            },
        },
        dataset="rft_dataset.jsonl",
    ),
    Scenario(
        "customize Nova Lite (SFT, LoRA), deployed",
        "post_request_customize.json",
        "SUCCEEDED",
        "a model is trained and deployed",
        _trained(deployed=True),
        dataset="sft_dataset.jsonl",
        changes={"deploy": True},
    ),
    Scenario(
        "invoke the customized model",
        None,
        "SUCCEEDED",
        "the customized model's deployment answers",
        _on_custom_model,
        body={
            "pipeline": "invoke",
            "input": {"prompt": "Who writes the catalog?", "custom_model": "hub-faq-assistant"},
        },
    ),
    Scenario(
        "customize Nova Lite (DPO, LoRA)",
        None,
        "SUCCEEDED",
        "a model is trained",
        _trained(deployed=False),
        body={
            "pipeline": "customize",
            "input": {
                "method": "dpo",
                "technique": "lora",
                "base_model": "amazon.nova-lite-v1:0",
                "dataset_id": "",
                "output_model_name": "hub-faq-preferences",
            },
        },
        dataset="dpo_dataset.jsonl",
    ),
    Scenario(
        "customize with an invalid dataset",
        "post_request_customize.json",
        "FAILED",
        "fails with the dataset validator's report, before any job",
        _rejected_dataset,
        dataset="sft_dataset_invalid.jsonl",
    ),
    Scenario(
        "an unsupported customization",
        None,
        "400",
        "refused before anything runs, naming the unsupported combination",
        _refused_naming("input"),
        body={
            "pipeline": "customize",
            "input": {
                "method": "ppo",
                "technique": "lora",
                "base_model": "amazon.nova-lite-v1:0",
                "dataset_id": "ds-any",
                "output_model_name": "never-trained",
            },
        },
    ),
]


def _sample(name: str) -> tuple[dict[str, Any], str]:
    event = json.loads((SAMPLES / name).read_text())
    return json.loads(event["body"]), event["headers"]["Idempotency-Key"]


def _upload(client: HubClient, dataset: str) -> str:
    """Uploads events/customization/<dataset> through a presigned POST; returns its dataset id."""
    created = client.post("/v1/datasets")
    form = created.body["upload"]
    content = (DATASETS / dataset).read_bytes()
    posted = requests.post(
        form["url"], data=form["fields"], files={form["file_field"]: (dataset, content)}, timeout=60
    )
    posted.raise_for_status()
    return str(created.body["dataset_id"])


def _excerpt(view: dict[str, Any]) -> str:
    result, error = view.get("result"), view.get("error")
    if error and error.get("report"):
        problems = [problem for report in error["report"] for problem in report["errors"]]
        return f"{error['error']}: " + "; ".join(
            f"line {problem['line']}: {problem['problem']}" if problem["line"] else problem["problem"]
            for problem in problems
        )
    if error:
        return f"{error.get('error')}: {error.get('cause', '')}"
    if isinstance(result, dict) and result.get("dry_run"):
        would = result["would_start"]
        return (
            f"dry run: would call {would['api_call']}, ~{result['estimated_training_tokens']} training tokens"
        )
    if isinstance(result, dict) and "model" in result:
        model = result["model"]
        if model.get("deployment_arn"):
            return f"deployed {model['deployment_arn']}"
        return f"model {model.get('arn') or model.get('artifacts_uri')} ({result.get('backend')})"
    if not isinstance(result, dict):
        return ""
    if "transcript" in result:  # an agent: the tools it called, then what the last one answered
        transcript = result["transcript"]
        calls = " > ".join(
            call["tool"] + ("" if call["outcome"] == "success" else f" ({call['outcome']})")
            for call in transcript
        )
        return f"{calls}: {transcript[-1]['answer']}" if transcript else str(result.get("output_text", ""))
    if "output_text" in result:
        return str(result["output_text"])
    if "chunks" in result:
        stats = result.get("stats", {})
        chunks, words, tokens = stats.get("chunks"), stats.get("words"), stats.get("estimated_tokens")
        return f"{chunks} chunk(s), {words} words, ~{tokens} tokens"
    return json.dumps(result)


def _report_lines(view: dict[str, Any]) -> list[str]:
    """A failed dataset validation's report, one problem per line."""
    error = view.get("error") or {}
    lines = []
    for report in error.get("report") or []:
        for problem in report["errors"]:
            where = f"line {problem['line']}" if problem["line"] else "dataset"
            lines.append(f"{report['role']} {where}: {problem['problem']}")
    return lines


def _status_path(view: dict[str, Any]) -> list[str]:
    path: list[str] = []
    for entry in view.get("history", []):
        if not path or path[-1] != entry["status"]:
            path.append(entry["status"])
    return path


def _run(client: HubClient, scenario: Scenario, sent: dict[str, tuple[dict[str, Any], str, str]]) -> Outcome:
    outcome = Outcome(scenario)
    started = time.monotonic()
    if scenario.same_as:
        body, key, first_id = sent[scenario.same_as]
    elif scenario.sample:
        body, key = _sample(scenario.sample)
        first_id = ""
    else:
        body, key, first_id = scenario.body or {}, str(uuid.uuid4()), ""
    if scenario.dataset:
        body = {**body, "input": {**body["input"], "dataset_id": _upload(client, scenario.dataset)}}
        key = str(uuid.uuid4())
    if scenario.changes:
        body = {**body, "input": {**body["input"], **scenario.changes}}
    outcome.pipeline = str(body.get("pipeline", ""))
    reply: Reply = client.submit(body, key)
    if reply.status != 202:
        outcome.got = str(reply.status)
        outcome.path = [f"HTTP {reply.status}"]
        errors = reply.body.get("errors") or [{"field": "", "problem": reply.body.get("message", "")}]
        outcome.excerpt = "; ".join(f"{e.get('field')}: {e.get('problem')}" for e in errors)
        view = reply.body
    elif reply.headers.get("Idempotency-Replayed") == "true":
        outcome.request_id = reply.body["request_id"]
        outcome.got = "replayed" if outcome.request_id == first_id else "replayed under another id"
        outcome.path = ["HTTP 202", "Idempotency-Replayed"]
        view = client.get(outcome.request_id).body
        accepted = [entry for entry in view.get("history", []) if entry["event_type"] == "request.accepted"]
        outcome.excerpt = (
            f"same request id ({outcome.request_id[:8]}...), request.accepted published {len(accepted)}x"
        )
    else:
        outcome.request_id = reply.body["request_id"]
        sent[scenario.label] = (body, key, outcome.request_id)
        try:
            view = client.wait(outcome.request_id, timeout=120)
        except TimeoutError as error:
            view = client.get(outcome.request_id).body
            outcome.excerpt = str(error)
        outcome.got = str(view.get("status"))
        outcome.path = _status_path(view)
        outcome.excerpt = outcome.excerpt or _excerpt(view)
        outcome.details = _report_lines(view)
    if outcome.got == scenario.expect:
        outcome.broken = scenario.check(view)
    outcome.seconds = time.monotonic() - started
    return outcome


def _table(outcomes: list[Outcome], out: Callable[[str], None]) -> None:
    rows = [("", "request", "pipeline", "status path", "time", "result")]
    for outcome in outcomes:
        excerpt = literal(outcome.excerpt)  # a model's or a tool's text, its control characters shown
        rows.append(
            (
                "ok" if outcome.as_expected else "!!",
                outcome.scenario.label,
                outcome.pipeline,
                " > ".join(outcome.path),
                f"{outcome.seconds:.1f}s",
                (excerpt[:70] + "...") if len(excerpt) > 73 else excerpt,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5])


def report(outcomes: list[Outcome], out: Callable[[str], None]) -> int:
    """The table, what each row that is not ok did instead, and a summary; 1 if any row is not ok."""
    _table(outcomes, out)
    for outcome in outcomes:
        if outcome.details:
            out(f"\n{outcome.scenario.label}, the validator's report:")
            for detail in outcome.details:
                out(f"  {literal(detail)}")
    unexpected = [outcome for outcome in outcomes if not outcome.as_expected]
    for outcome in unexpected:
        scenario = outcome.scenario
        if outcome.got != scenario.expect:
            why = f"expected {scenario.expect}, got {outcome.got or 'nothing'}"
        else:
            why = f"{outcome.got}, but {outcome.broken}"
        out(f"\n!! {scenario.label}: it should be that {scenario.promise}; {literal(why)}")
    out("")
    out(
        f"{len(outcomes)} requests, {len(outcomes) - len(unexpected)} did what their row says"
        + ("." if not unexpected else f"; not: {', '.join(o.scenario.label for o in unexpected)}.")
    )
    return 1 if unexpected else 0


def run_demo(config: LocalCloudConfig | None = None, out: Callable[[str], None] = print) -> int:
    config = config or LocalCloudConfig(api_port=0, emulator_port=0)
    out("Starting the local cloud: template.yaml translated and deployed into an emulator on 127.0.0.1 ...")
    started = time.monotonic()
    cloud = LocalCloud(config)
    try:
        cloud.start()
    except (LocalCloudError, PortInUse) as error:
        print(f"agenthub demo: {error}", file=sys.stderr)
        return 2
    try:
        stack = cloud.stack
        assert stack is not None  # noqa: S101 - start() succeeded
        out(
            f"ready in {time.monotonic() - started:.1f}s: {cloud.api_url}  "
            f"({len(stack.resources)} resources, {len(stack.functions)} functions)"
        )
        client = HubClient(cloud.api_url, user_token(cloud.info(), USER, None, config.state_dir))
        out(f"signed in as local user '{USER}' (authorization code with PKCE, both hub scopes)")
        out("")
        sent: dict[str, tuple[dict[str, Any], str, str]] = {}
        outcomes = [_run(client, scenario, sent) for scenario in SCENARIOS]
        code = report(outcomes, out)
        out(f"function logs: {config.state_dir / 'logs'}")
        return code
    finally:
        out("stopping the local cloud")
        cloud.stop()
