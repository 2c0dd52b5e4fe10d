"""Where the local cloud spends its time: py-spy samples of its processes, summed up by frame.

py-spy samples from outside (all threads, and with --subprocesses the function workers too), so
the local cloud runs unchanged. Its raw output has one line per distinct stack,
`root;caller;...;frame count`, the root being the process when subprocesses are sampled.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME_FILE = re.compile(r"\((?P<file>[^)]*)\)$")


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    by_process: dict[str, int]  # samples per process kind (the local cloud, function workers)
    inclusive: list[tuple[str, int]]  # frames by samples that had them anywhere on the stack
    exclusive: list[tuple[str, int]]  # frames by samples that were in them


def parse_raw(lines: list[str]) -> list[tuple[list[str], int]]:
    stacks = []
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def process_kind(root: str) -> str:
    if "lambda_worker" in root:
        return "function workers"
    if root.startswith("process "):
        return "local cloud"
    return "other"


def summarize(lines: list[str], top: int = 25) -> ProfileSummary:
    """Samples per process kind, and the local cloud process's top frames."""
    by_process: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    total = 0
    for stack, count in parse_raw(lines):
        total += count
        kind = process_kind(stack[0])
        by_process[kind] += count
        if kind != "local cloud":
            continue
        frames = stack[1:]
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            exclusive[frames[-1]] += count
    return ProfileSummary(total, dict(by_process), inclusive.most_common(top), exclusive.most_common(top))


def report(summary: ProfileSummary) -> str:
    cloud = summary.by_process.get("local cloud", 0) or 1
    lines = [f"{summary.samples} samples: " + ", ".join(f"{k} {v}" for k, v in summary.by_process.items())]
    lines.append("\nlocal cloud process, frames by share of its samples (inclusive):")
    lines += [f"{count / cloud:6.1%}  {frame}" for frame, count in summary.inclusive]
    lines.append("\nlocal cloud process, frames by share of its samples (self):")
    lines += [f"{count / cloud:6.1%}  {frame}" for frame, count in summary.exclusive]
    return "\n".join(lines) + "\n"


class PySpy:
    """py-spy recording a running process and its subprocesses until stopped."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        py_spy = Path(sys.executable).parent / "py-spy"
        self._process = subprocess.Popen(  # noqa: S603 - the virtualenv's own py-spy
            [
                str(py_spy),
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--nonblocking",
                "--nolineno",
                "--format",
                "raw",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> ProfileSummary:
        self._process.send_signal(signal.SIGINT)
        self._process.wait(60)
        return summarize(self.output.read_text().splitlines())
