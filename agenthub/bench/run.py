"""`python -m agenthub.bench` (what `make bench` runs): every figure, then bench/results.json and a table.

Each part that deploys into the emulator runs in a process of its own (`... phase NAME`), because
moto keeps its state per process: the parts cannot see each other's resources, and the mixed
load's profile sees only the local cloud.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agenthub import PROJECT_ROOT
from agenthub.bench import artifacts

WORK = PROJECT_ROOT / "build" / "bench"
RESULTS = PROJECT_ROOT / "bench" / "results.json"
PROFILE = PROJECT_ROOT / "bench" / "profile-local-cloud.txt"
PIPELINES = {
    "preprocess": "post_request_preprocess.json",
    "invoke": "post_request_invoke.json",
    "chained": "post_request_chained.json",
}
COUNT_REPEATS = 3
VARIANT_PAIRS = 7


def phase_functions(work: Path, pairs: int, calls: int) -> dict[str, Any]:
    """Cold starts of every function and the front door's warm path."""
    from agenthub.bench.cold_start import MeasurementFailed, lambda_processes, measure_function, record_calls
    from agenthub.bench.front_door import FRONT_DOOR, measure_warm_path, with_environment
    from agenthub.bench.samples import NoSample, fresh_event, set_up
    from agenthub.bench.stack import REGION, emulated_stack
    from agenthub.bench.variants import VARIANTS, variant_build
    from agenthub.bench.xray import XRaySink
    from agenthub.local.cloud import samconfig_overrides
    from agenthub.local.sample_events import UnknownName
    from agenthub.template import DEFAULT_TEMPLATE, translate

    build = artifacts.runnable_build(work)
    layers = artifacts.built_layers(
        build, translate(DEFAULT_TEMPLATE, samconfig_overrides(), REGION).layer_dirs
    )
    sink = XRaySink()
    cold: dict[str, Any] = {}
    not_measured: dict[str, str] = {}
    variants_cold: dict[str, Any] = {}
    warm: dict[str, Any] = {}
    with emulated_stack("agent-hub-bench", work) as (emulator, stack):
        s3 = emulator.client("s3")
        for logical_id, spec in sorted(stack.functions.items()):
            processes = lambda_processes(spec, build, layers, emulator.url, sink, work)
            try:
                set_up(logical_id, stack, emulator.client)
                measured = measure_function(spec, stack, s3, processes, pairs, work)
            except (MeasurementFailed, NoSample, UnknownName) as error:
                # Reported, not hidden: the table names the function and why it has no figure.
                not_measured[logical_id] = str(error).splitlines()[0][:300]
                print(f"  cold start {logical_id}: not measured ({not_measured[logical_id]})", flush=True)
                continue
            cold[logical_id] = asdict(measured)
            print(f"  cold start {logical_id}: {measured.ratio:.2f}x", flush=True)
        spec = stack.function(FRONT_DOOR)
        for name, what_if in VARIANTS.items():
            variant = variant_build(build, FRONT_DOOR, name, work)
            function, bare = lambda_processes(spec, variant, layers, emulator.url, sink, work)
            processes = (with_environment(function, what_if.environment), bare)
            measured = measure_function(spec, stack, s3, processes, VARIANT_PAIRS, work)
            variants_cold[name] = asdict(measured)
            print(f"  cold start {FRONT_DOOR} {name}: {measured.ratio:.2f}x", flush=True)
        function, bare = lambda_processes(spec, build, layers, emulator.url, sink, work)
        recorded = record_calls(spec, stack, s3, function, work)
        event = fresh_event(FRONT_DOOR, stack)
        variants = {
            "traced": (function, True),
            "unsampled": (function, False),
            "sdk_tracer": (with_environment(function, VARIANTS["sdk_tracer"].environment), True),
        }
        for name, (process, sampled) in variants.items():
            overhead = measure_warm_path(spec.handler, event, recorded, (process, bare), calls, work, sampled)
            warm[name] = asdict(overhead)
            print(f"  front door warm ({name}): {overhead.ratio:.2f}x", flush=True)
    sink.close()
    return {
        "cold_starts": cold,
        "cold_starts_not_measured": not_measured,
        "front_door_variants": variants_cold,
        "front_door": warm,
        "build": str(build),
    }


def phase_counts(work: Path) -> dict[str, Any]:
    """What one request of each pipeline makes the local cloud do."""
    from agenthub.bench.e2e import sample_body
    from agenthub.bench.per_request import RequestCounts, watch_requests
    from agenthub.bench.usage import hub_publishers, summary, usage_of
    from agenthub.client import HubClient
    from agenthub.local.cloud import LocalCloud, LocalCloudConfig
    from agenthub.local.tokens import user_token

    state_dir = Path(tempfile.mkdtemp(prefix="agenthub-bench-counts-"))
    cloud = LocalCloud(LocalCloudConfig(api_port=0, emulator_port=0, state_dir=state_dir))
    cloud.start()
    try:
        counter, deliveries = watch_requests(cloud)
        client = HubClient(cloud.api_url, user_token(cloud.info(), "bench", None, state_dir))
        counts = RequestCounts(cloud, counter, deliveries)
        assert cloud.stack is not None  # noqa: S101 - started above
        memory = {logical_id: spec.memory for logical_id, spec in cloud.stack.functions.items()}
        publishers = hub_publishers(cloud.stack)
        per_pipeline: dict[str, Any] = {}
        for pipeline, sample in PIPELINES.items():
            counts.of_one(client, pipeline, sample_body(sample))  # first ones start workers and sign in
            runs = [counts.of_one(client, pipeline, sample_body(sample)) for _ in range(COUNT_REPEATS)]
            summaries = [summary(run) for run in runs]
            varied = any(
                {k: v for k, v in s.items() if k not in ("log_bytes", "lambda_billed_ms")}
                != {k: v for k, v in summaries[0].items() if k not in ("log_bytes", "lambda_billed_ms")}
                for s in summaries
            )
            median_run = sorted(runs, key=lambda run: sum(run.billed_ms.values()))[len(runs) // 2]
            per_pipeline[pipeline] = {
                "counts": summary(median_run),
                "varied": varied,
                "usage": asdict(usage_of(median_run, memory, publishers)),
            }
            print(
                f"  counted {pipeline}: {per_pipeline[pipeline]['counts']['lambda_invocations']} invocations"
            )
        return {"pipelines": per_pipeline, "memory_mb": memory, "hub_publishers": publishers}
    finally:
        cloud.stop()
        keep_logs(state_dir, work / "logs" / "counts")


def phase_e2e(work: Path) -> dict[str, Any]:
    """The mixed load through `agenthub local up`, profiled by py-spy."""
    from agenthub.bench.e2e import CatalogWatch, LocalCloudProcess, run_mixed_load
    from agenthub.bench.profile import PySpy, report
    from agenthub.client import HubClient
    from agenthub.local.invoke import LocalCloudClient
    from agenthub.local.tokens import user_token

    state_dir = Path(tempfile.mkdtemp(prefix="agenthub-bench-e2e-"))
    cloud = LocalCloudProcess(state_dir, work / "logs" / "local-cloud.log")
    try:
        info = cloud.info
        client = HubClient(info["api_url"], user_token(info, "bench", None, state_dir))
        watch = CatalogWatch(
            info["endpoint_url"], info["region"], info["outputs"]["CatalogTable"], LocalCloudClient(info)
        )
        profiler = PySpy(cloud.pid, work / "profile-local-cloud.raw")
        load = run_mixed_load(client, watch)
        PROFILE.write_text(report(profiler.stop()))
        return asdict(load)
    finally:
        cloud.stop()
        keep_logs(state_dir, work / "logs" / "e2e")


def keep_logs(state_dir: Path, logs: Path) -> None:
    """The local cloud's logs, kept in the bench's work folder; its state folder removed."""
    shutil.rmtree(logs, ignore_errors=True)
    if (state_dir / "logs").exists():
        shutil.copytree(state_dir / "logs", logs)
    shutil.rmtree(state_dir, ignore_errors=True)


PHASES = {"functions": phase_functions, "counts": phase_counts, "e2e": phase_e2e}


def run_phase(name: str, work: Path, arguments: list[str]) -> dict[str, Any]:
    output = work / f"{name}.json"
    output.unlink(missing_ok=True)
    print(f"{name} ...", flush=True)
    subprocess.run(  # noqa: S603 - this module, in a process of its own
        [sys.executable, "-m", "agenthub.bench", "phase", name, *arguments],
        check=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    result: dict[str, Any] = json.loads(output.read_text())
    return result


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if "model name" in line
            ),
            "",
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "architecture": platform.machine(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agenthub.bench")
    parser.add_argument("--pairs", type=int, default=15, help="interleaved cold-start pairs per function")
    parser.add_argument("--calls", type=int, default=2000, help="warm front-door calls per variant")
    parser.add_argument(
        "--skip", action="append", default=[], choices=sorted(PHASES), help="leave a part out"
    )
    parser.add_argument("phase", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "logs").mkdir(exist_ok=True)
    if args.phase:  # `phase NAME`: one part, in this process
        name = args.phase[1]
        options = {"functions": {"pairs": args.pairs, "calls": args.calls}}.get(name, {})
        result = PHASES[name](WORK, **options)  # type: ignore[operator]
        (WORK / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
        return 0
    from agenthub.bench.report import results, table

    if not artifacts.DEPLOYED_BUILD.exists():
        print("no .aws-sam/build: run `make build` first (make bench does)", file=sys.stderr)
        return 2
    forwarded = ["--pairs", str(args.pairs), "--calls", str(args.calls)]
    parts = {name: run_phase(name, WORK, forwarded) for name in PHASES if name not in args.skip}
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    figures = results(parts, artifacts.artifact_sizes(), previous)
    figures["machine"] = machine()
    figures["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
    print(table(figures))
    print(f"\nwritten: {RESULTS.relative_to(PROJECT_ROOT)}, {PROFILE.relative_to(PROJECT_ROOT)}")
    return 0
