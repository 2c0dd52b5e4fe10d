"""The front door's warm path: POST /v1/requests through the handler, against the same calls made bare.

Two warm processes run in lock step, one call each in turn (A, B, A, B, ...): A is the front door
in its Lambda environment (tracing as deployed), B a bare boto3 process. Every AWS call in both
is answered in-process from the answers recorded on a real first run (botocore's `before-call`
hook, which is how its Stubber answers), because what is measured here is the handler's own cost
per request: through the emulator, its per-call time and noise would swamp it. Each POST carries
a new Idempotency-Key, so every call takes the full path (dedupe record, request-id ledger,
acceptance record, publish, dedupe record completed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agenthub.bench.cold_start import RUNTIME_MODULE, MeasurementFailed, Process
from agenthub.bench.stats import Spread, ratio_of_medians, spread

FRONT_DOOR = "FrontDoorFunction"
WARM_UP_CALLS = 50


@dataclass(frozen=True)
class WarmOverhead:
    handler_us: Spread
    bare_us: Spread
    ratio: float
    calls: list[str]


class WarmProcess:
    """A measured process that runs one warm invocation per command."""

    def __init__(self, mode: str, spec: dict[str, Any], process: Process, work: Path) -> None:
        spec_file = work / f"spec-{mode}.json"
        spec_file.write_text(json.dumps(spec))
        self._log = process.log.open("a", encoding="utf-8")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", RUNTIME_MODULE, mode, str(spec_file)],
            cwd=process.cwd,
            env=process.environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self._stdin, self._stdout = self._pipes()

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        if self._process.stdin is None or self._process.stdout is None:
            raise MeasurementFailed("a warm process was started without its pipes")
        return self._process.stdin, self._process.stdout

    def once(self, sequence: int) -> float:
        """Microseconds the invocation took, measured inside the process."""
        self._stdin.write(f"{sequence}\n")
        self._stdin.flush()
        reply = self._stdout.readline()
        if not reply:
            raise MeasurementFailed(f"a warm process exited {self._process.wait(5)}; see {self._log.name}")
        return float(reply)

    def close(self) -> None:
        self._stdin.close()
        self._process.wait(10)
        self._log.close()


def measure_warm_path(
    handler: str,
    event: dict[str, Any],
    calls: list[dict[str, Any]],
    processes: tuple[Process, Process],
    count: int,
    work: Path,
    sampled: bool = True,
) -> WarmOverhead:
    function, baseline = processes
    measured = WarmProcess(
        "serve-function",
        {"handler": handler, "event": event, "calls": calls, "sampled": sampled},
        function,
        work,
    )
    bare = WarmProcess("serve-baseline", {"calls": calls}, baseline, work)
    try:
        for sequence in range(WARM_UP_CALLS):
            measured.once(sequence)
            bare.once(sequence)
        handler_us: list[float] = []
        bare_us: list[float] = []
        for sequence in range(WARM_UP_CALLS, WARM_UP_CALLS + count):
            handler_us.append(measured.once(sequence))
            bare_us.append(bare.once(sequence))
    finally:
        measured.close()
        bare.close()
    return WarmOverhead(
        handler_us=spread(handler_us),
        bare_us=spread(bare_us),
        ratio=ratio_of_medians(handler_us, bare_us),
        calls=[f"{call['service']}.{call['operation']}" for call in calls],
    )


def with_environment(process: Process, overrides: dict[str, str]) -> Process:
    """The same function with some variables changed (what a setting costs, for comparison)."""
    return Process({**process.environment, **overrides}, process.cwd, process.log)
