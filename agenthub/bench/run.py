"""`python -m agenthub.bench` (what `make bench` runs): every figure, then bench/results.json and a table.

Each part that deploys into the emulator runs in a process of its own (`... phase NAME`), because
moto keeps its state per process: the parts cannot see each other's resources, and the mixed
load's profile sees only the local cloud.

`--smoke` (what `make bench-smoke`, part of `make test`, runs) is the same run on a small scale (one
cold/warm pair per function, a few warm calls, one counted request per pipeline, ten requests end
to end), its parts side by side. Its figures go to build/bench-smoke/, never over the committed
ones, and are not judged. Both fail when a part fails or leaves a gap (agenthub/bench/gaps.py);
an incomplete full run leaves bench/ as it was and writes build/bench/results.incomplete.json.
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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agenthub import PROJECT_ROOT
from agenthub.bench import artifacts

PIPELINES = {
    "preprocess": "post_request_preprocess.json",
    "invoke": "post_request_invoke.json",
    "chained": "post_request_chained.json",
}


@dataclass(frozen=True)
class Scale:
    """How much of each part a run measures."""

    pairs: int  # interleaved cold-start pairs per function
    calls: int  # warm front-door calls per variant
    variant_pairs: int  # cold-start pairs of each what-if
    warm_page_cache: bool  # a baseline run, not timed, before a function's pairs
    function_workers: int  # functions measured at once
    count_repeats: int  # counted requests per pipeline
    count_warm_up: bool  # one request of each pipeline first, not counted, that starts the workers
    mixed_share: float  # of the mixed load's 200 requests


@dataclass(frozen=True)
class Paths:
    work: Path  # builds, logs, each part's raw figures
    results: Path
    profile: Path


FULL = Scale(
    pairs=15,
    calls=2000,
    variant_pairs=7,
    warm_page_cache=True,
    function_workers=1,
    count_repeats=3,
    count_warm_up=True,
    mixed_share=1.0,
)
SMOKE = Scale(
    pairs=1,
    calls=20,
    variant_pairs=1,
    warm_page_cache=False,
    function_workers=2,
    count_repeats=1,
    count_warm_up=False,
    mixed_share=0.05,
)
FULL_PATHS = Paths(
    PROJECT_ROOT / "build" / "bench",
    PROJECT_ROOT / "bench" / "results.json",
    PROJECT_ROOT / "bench" / "profile-local-cloud.txt",
)
SMOKE_WORK = PROJECT_ROOT / "build" / "bench-smoke"
SMOKE_PATHS = Paths(SMOKE_WORK, SMOKE_WORK / "results.json", SMOKE_WORK / "profile-local-cloud.txt")
PROFILE_NAME = "profile-local-cloud.txt"  # in the work folder, until the run is complete


def phase_functions(paths: Paths, scale: Scale) -> dict[str, Any]:
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

    work = paths.work
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
        functions = sorted(stack.functions)
        s3 = emulator.client("s3")

        def measure(logical_id: str) -> None:
            spec = stack.function(logical_id)
            processes = lambda_processes(spec, build, layers, emulator.url, sink, work)
            try:
                set_up(logical_id, stack, emulator.client)
                measured = measure_function(
                    spec, stack, s3, processes, scale.pairs, work, scale.warm_page_cache
                )
            except (MeasurementFailed, NoSample, UnknownName) as error:
                # Reported, not hidden: the table names the function and why it has no figure.
                not_measured[logical_id] = str(error).splitlines()[0][:300]
                print(f"  cold start {logical_id}: not measured ({not_measured[logical_id]})", flush=True)
                return
            cold[logical_id] = asdict(measured)
            print(f"  cold start {logical_id}: {measured.ratio:.2f}x", flush=True)

        # Each function's processes, files and logs are its own, so the smoke measures two at once.
        with ThreadPoolExecutor(scale.function_workers) as pool:
            list(pool.map(measure, functions))
        spec = stack.function(FRONT_DOOR)
        for name, what_if in VARIANTS.items():
            variant = variant_build(build, FRONT_DOOR, name, work)
            function, bare = lambda_processes(spec, variant, layers, emulator.url, sink, work)
            processes = (with_environment(function, what_if.environment), bare)
            measured = measure_function(
                spec, stack, s3, processes, scale.variant_pairs, work, scale.warm_page_cache
            )
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
            overhead = measure_warm_path(
                spec.handler, event, recorded, (process, bare), scale.calls, work, sampled
            )
            warm[name] = asdict(overhead)
            print(f"  front door warm ({name}): {overhead.ratio:.2f}x", flush=True)
    sink.close()
    return {
        "functions": functions,
        "cold_starts": cold,
        "cold_starts_not_measured": not_measured,
        "front_door_variants": variants_cold,
        "front_door": warm,
        "build": str(build),
    }


def phase_counts(paths: Paths, scale: Scale) -> dict[str, Any]:
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
            if scale.count_warm_up:  # the first ones start workers and sign in
                counts.of_one(client, pipeline, sample_body(sample))
            runs = [counts.of_one(client, pipeline, sample_body(sample)) for _ in range(scale.count_repeats)]
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
        keep_logs(state_dir, paths.work / "logs" / "counts")


def phase_e2e(paths: Paths, scale: Scale) -> dict[str, Any]:
    """The mixed load through `agenthub local up`, profiled by py-spy."""
    from agenthub.bench.e2e import CatalogWatch, LocalCloudProcess, run_mixed_load
    from agenthub.bench.profile import PySpy, report
    from agenthub.client import HubClient
    from agenthub.local.invoke import LocalCloudClient
    from agenthub.local.tokens import user_token

    state_dir = Path(tempfile.mkdtemp(prefix="agenthub-bench-e2e-"))
    cloud = LocalCloudProcess(state_dir, paths.work / "logs" / "local-cloud.log")
    try:
        info = cloud.info
        client = HubClient(info["api_url"], user_token(info, "bench", None, state_dir))
        watch = CatalogWatch(
            info["endpoint_url"], info["region"], info["outputs"]["CatalogTable"], LocalCloudClient(info)
        )
        profiler = PySpy(cloud.pid, paths.work / "profile-local-cloud.raw")
        load = run_mixed_load(client, watch, share=scale.mixed_share)
        profile = profiler.stop()
        (paths.work / PROFILE_NAME).write_text(report(profile))
        return {**asdict(load), "profile_samples": profile.samples}
    finally:
        cloud.stop()
        keep_logs(state_dir, paths.work / "logs" / "e2e")


def keep_logs(state_dir: Path, logs: Path) -> None:
    """The local cloud's logs, kept in the bench's work folder; its state folder removed."""
    shutil.rmtree(logs, ignore_errors=True)
    if (state_dir / "logs").exists():
        shutil.copytree(state_dir / "logs", logs)
    shutil.rmtree(state_dir, ignore_errors=True)


PHASES = {"functions": phase_functions, "counts": phase_counts, "e2e": phase_e2e}
SMOKE_LANES = (("functions",), ("counts",), ("e2e",))


class PhaseFailed(RuntimeError):
    pass


def run_phase(name: str, arguments: list[str], paths: Paths) -> dict[str, Any]:
    output = paths.work / f"{name}.json"
    output.unlink(missing_ok=True)
    print(f"{name} ...", flush=True)
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - this module, in a process of its own
        [sys.executable, "-m", "agenthub.bench", *arguments, "phase", name],
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if done.returncode != 0 or not output.exists():
        raise PhaseFailed(f"the {name} part failed (exit {done.returncode}); its output is above")
    print(f"{name}: {time.monotonic() - started:.0f} s", flush=True)
    result: dict[str, Any] = json.loads(output.read_text())
    return result


def shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


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
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"every part on a small scale, into {SMOKE_PATHS.results.relative_to(PROJECT_ROOT)}: "
        "fails when a part fails or leaves a gap, never on speed",
    )
    parser.add_argument("--pairs", type=int, help="interleaved cold-start pairs per function")
    parser.add_argument("--calls", type=int, help="warm front-door calls per variant")
    parser.add_argument(
        "--skip", action="append", default=[], choices=sorted(PHASES), help="leave a part out"
    )
    parser.add_argument("phase", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scale, paths = (SMOKE, SMOKE_PATHS) if args.smoke else (FULL, FULL_PATHS)
    scale = replace(scale, pairs=args.pairs or scale.pairs, calls=args.calls or scale.calls)
    paths.work.mkdir(parents=True, exist_ok=True)
    (paths.work / "logs").mkdir(exist_ok=True)
    if args.phase:  # `phase NAME`: one part, in this process
        name = args.phase[1]
        result = PHASES[name](paths, scale)
        (paths.work / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
        return 0
    if not artifacts.DEPLOYED_BUILD.exists():
        print("no .aws-sam/build: run `make build` first (make bench does)", file=sys.stderr)
        return 2
    started = time.monotonic()
    forwarded = [
        *(["--smoke"] if args.smoke else []),
        "--pairs",
        str(scale.pairs),
        "--calls",
        str(scale.calls),
    ]
    parts: dict[str, Any] = {}
    failures: list[str] = []

    def run_lane(names: tuple[str, ...]) -> None:
        for name in names:
            if name in args.skip:
                continue
            try:
                parts[name] = run_phase(name, forwarded, paths)
            except PhaseFailed as error:
                failures.append(str(error))  # the other parts still run: one run shows every failure

    # The full run measures one part at a time, so that none disturbs another's figures; the smoke,
    # whose figures are not read, runs its parts side by side (each in its own emulator, on ports
    # of its own) to keep `make test` short.
    lanes = SMOKE_LANES if args.smoke else (tuple(PHASES),)
    with ThreadPoolExecutor(len(lanes)) as pool:
        list(pool.map(run_lane, lanes))
    seconds = time.monotonic() - started
    return report_run(parts, failures, args.smoke, paths, seconds, artifacts.artifact_sizes())


def report_run(
    parts: dict[str, Any],
    failures: list[str],
    smoke: bool,
    paths: Paths,
    seconds: float,
    sizes: dict[str, artifacts.ArtifactSize],
) -> int:
    """The results and the table, or, when a part failed or left a gap, why the run is incomplete.
    An incomplete full run never replaces the committed figures."""
    from agenthub.bench.gaps import gaps
    from agenthub.bench.report import results, table

    # A smoke starts from nothing: a figure it failed to make must not be one kept from before.
    previous = json.loads(paths.results.read_text()) if paths.results.exists() and not smoke else {}
    figures = results(parts, sizes, previous)
    figures["machine"] = machine()
    figures["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    problems = failures + gaps(parts, figures, list(PIPELINES))
    if smoke:
        figures["smoke"] = {"seconds": round(seconds), "gaps": problems}
    written = paths.results
    if problems and not smoke:
        written = paths.work / "results.incomplete.json"
        figures["incomplete"] = problems
    written.write_text(json.dumps(figures, indent=1) + "\n")
    profile = paths.work / PROFILE_NAME
    if "e2e" in parts and written == paths.results and profile != paths.profile:
        shutil.copyfile(profile, paths.profile)
        profile = paths.profile
    print(table(figures))
    print(f"\nwritten: {shown(written)}" + (f", {shown(profile)}" if "e2e" in parts else ""))
    print(f"{'smoke' if smoke else 'bench'}: {seconds:.0f} s; figures reported, not judged")
    if problems:
        print(f"\nincomplete ({len(problems)}):", *(f"  {problem}" for problem in problems), sep="\n")
        return 1
    return 0
