"""Cold starts: each function's import + first event in a fresh interpreter, against a bare baseline.

A (the function): a new process with the function's environment as Lambda gives it (tracing
active and sampled, the template's variables as deployed), its `sam build` folder as the task
root and its layers as `sam build` built them after it on the path, no bytecode written (the task
root is read-only in Lambda: only the .pyc files a build ships are used); it imports the handler
and runs it on its sample event. B (the baseline): a new process with the
same environment outside the package, which imports boto3 (the runtime's own, compiled), creates
a client per service and makes the same AWS calls the function made, recorded from a first run.

The calls are answered by the local cloud's emulator on loopback (moto in server mode, with the
template deployed by the local cloud's own deployer) rather than by Stubbers: the first event's
path depends on real answers (conditional writes, a dataset streamed from S3, claim checks), and
a server needs no per-function canned answers. Both sides pay the same round trips, so they cancel
out of the difference, and the ratio is, if anything, understated. Step Functions executions only
record their start here, so no other work runs while a process is measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agenthub.bench.samples import answer_problem, fresh_ids, fresh_sample, put_data
from agenthub.bench.stats import Spread, interleaved, ratio_of_medians, spread
from agenthub.bench.xray import XRaySink
from agenthub.local.deploy import FunctionSpec, Stack
from agenthub.local.functions import function_environment

RUNTIME_MODULE = "agenthub.bench.runtime"
CHILD_TIMEOUT_SECONDS = 120


class MeasurementFailed(RuntimeError):
    """A measured process failed; the message has the end of its log."""


@dataclass(frozen=True)
class ColdStart:
    function_ms: Spread
    baseline_ms: Spread
    ratio: float
    import_ms: Spread  # the function's imports alone (module load to handler ready)
    baseline_import_ms: Spread
    calls: list[str]  # the AWS calls of the first event, in order


@dataclass(frozen=True)
class Process:
    """How to start one measured process."""

    environment: dict[str, str]
    cwd: Path
    log: Path


def run_child(mode: str, spec: dict[str, Any], process: Process, work: Path) -> dict[str, Any]:
    spec_file = work / f"spec-{process.log.stem}-{mode}.json"  # the process's own, as its log is
    spec_file.write_text(json.dumps(spec))
    with process.log.open("a", encoding="utf-8") as log:
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", RUNTIME_MODULE, mode, str(spec_file)],
            cwd=process.cwd,
            env=process.environment,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    if done.returncode != 0 or not done.stdout.strip():
        tail = process.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise MeasurementFailed(f"{mode} exited {done.returncode}; its log ends with:\n{tail}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def lambda_processes(
    spec: FunctionSpec,
    build_dir: Path,
    layers: dict[Path, Path],
    endpoint_url: str,
    sink: XRaySink,
    work: Path,
) -> tuple[Process, Process]:
    """The function's process (its build folder as task root, its layers as built: `layers` maps a
    layer's source folder to its built python/ folder) and its baseline's (outside both)."""
    task_root = build_dir / spec.logical_id
    built = tuple(layers.get(layer.resolve(), layer) for layer in spec.layer_dirs)
    environment = {
        **function_environment(
            replace(spec, code_dir=task_root, layer_dirs=built), spec.arn.split(":")[3], endpoint_url
        ),
        **sink.environment(sampled=True),
        "_HANDLER": spec.handler,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    outside = work / "baseline-cwd"
    outside.mkdir(exist_ok=True)
    baseline_environment = {name: value for name, value in environment.items() if name != "PYTHONPATH"}
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    return (
        Process(environment, task_root, logs / f"{spec.logical_id}.log"),
        Process(baseline_environment, outside, logs / f"{spec.logical_id}.baseline.log"),
    )


def check_outcome(logical_id: str, outcome: dict[str, Any], event: Any, s3: Any) -> None:
    """A first event that failed would measure the failure path: refuse it (its answer, or what
    it answered elsewhere: a custom resource's to CloudFormation)."""
    if outcome.get("failed_items") or int(outcome.get("status_code") or 200) >= 400:
        raise MeasurementFailed(f"{logical_id}: its sample event did not succeed: {outcome}")
    problem = answer_problem(logical_id, event, s3)
    if problem:
        raise MeasurementFailed(f"{logical_id}: its sample event did not succeed: {problem}")


def record_calls(
    spec: FunctionSpec, stack: Stack, s3: Any, function: Process, work: Path
) -> list[dict[str, Any]]:
    """One untimed run that writes down the AWS calls of the first event (and warms the page cache)."""
    event, objects = fresh_sample(spec.logical_id, stack, function.environment.get("AWS_ENDPOINT_URL", ""))
    put_data(objects, s3)
    record_to = work / f"calls-{spec.logical_id}.json"
    outcome = run_child(
        "record", {"handler": spec.handler, "event": event, "record_to": str(record_to)}, function, work
    )
    check_outcome(spec.logical_id, outcome, event, s3)
    calls: list[dict[str, Any]] = json.loads(record_to.read_text())
    return calls


def measure_function(
    spec: FunctionSpec,
    stack: Stack,
    s3: Any,
    processes: tuple[Process, Process],
    pairs: int,
    work: Path,
    warm_page_cache: bool = True,
) -> ColdStart:
    function, baseline = processes
    calls = record_calls(spec, stack, s3, function, work)
    calls_text = json.dumps(calls)
    imports: list[float] = []
    baseline_imports: list[float] = []

    def function_once() -> float:
        event, objects = fresh_sample(
            spec.logical_id, stack, function.environment.get("AWS_ENDPOINT_URL", "")
        )
        put_data(objects, s3)
        outcome = run_child("function", {"handler": spec.handler, "event": event}, function, work)
        check_outcome(spec.logical_id, outcome, event, s3)
        imports.append(outcome["import_ms"])
        return float(outcome["total_ms"])

    def baseline_once() -> float:
        # The same calls with new ids, so conditional writes keyed on the request id succeed again.
        outcome = run_child("baseline", {"calls": json.loads(fresh_ids(calls_text))}, baseline, work)
        baseline_imports.append(outcome["import_ms"])
        return float(outcome["total_ms"])

    if warm_page_cache:  # for the baseline's files, as record_calls did for A's
        baseline_once()
        baseline_imports.clear()
    measured, bare = interleaved(pairs, function_once, baseline_once)
    return ColdStart(
        function_ms=spread(measured),
        baseline_ms=spread(bare),
        ratio=ratio_of_medians(measured, bare),
        import_ms=spread(imports),
        baseline_import_ms=spread(baseline_imports),
        calls=[f"{call['service']}.{call['operation']}" for call in calls],
    )
