"""Where the local cloud spends its time: py-spy samples of its process, summed up by frame.

py-spy samples from outside, so the local cloud runs unchanged. Only samples holding the GIL are
kept (`--gil`): the local cloud is one Python process, and what holds its interpreter is what
limits it; threads waiting on sockets would otherwise dominate. Its raw output has one line per
distinct stack, `caller;...;frame (file) count`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SAMPLES_PER_SECOND = 50
_FILE = re.compile(r"\((?P<file>[^)]*)\)$")


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    by_package: list[tuple[str, int]]  # samples whose innermost frame is in the package
    inclusive: list[tuple[str, int]]  # frames by samples that had them anywhere on the stack
    exclusive: list[tuple[str, int]]  # frames by samples that were in them


def parse_raw(lines: list[str]) -> list[tuple[list[str], int]]:
    stacks = []
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            if frames[0].startswith("process "):  # sampled with --subprocesses
                frames = frames[1:]
            stacks.append((frames, int(count)))
    return stacks


def package_of(frame: str) -> str:
    """`moto/stepfunctions`, `botocore`, `agenthub/local`...; the standard library as `python`."""
    match = _FILE.search(frame)
    path = match.group("file") if match else ""
    parts = path.split("/")
    if len(parts) == 1:
        return "python"
    return "/".join(parts[:2]) if parts[0] in ("moto", "agenthub") and len(parts) > 2 else parts[0]


def summarize(lines: list[str], top: int = 30) -> ProfileSummary:
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    total = 0
    for frames, count in parse_raw(lines):
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            exclusive[frames[-1]] += count
            by_package[package_of(frames[-1])] += count
    return ProfileSummary(
        total, by_package.most_common(top), inclusive.most_common(top), exclusive.most_common(top)
    )


def report(summary: ProfileSummary) -> str:
    total = summary.samples or 1
    lines = [f"{summary.samples} samples of the local cloud process holding the GIL"]
    sections = (
        ("by package of the innermost frame", summary.by_package),
        ("frames, inclusive", summary.inclusive),
        ("frames, self", summary.exclusive),
    )
    for title, rows in sections:
        lines.append(f"\n{title}:")
        lines += [f"{count / total:6.1%}  {name}" for name, count in rows]
    return "\n".join(lines) + "\n"


class PySpy:
    """py-spy recording a running process until stopped."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        py_spy = Path(sys.executable).parent / "py-spy"
        self._process = subprocess.Popen(  # noqa: S603 - the virtualenv's own py-spy
            [
                str(py_spy),
                "record",
                "--pid",
                str(pid),
                "--gil",
                "--nonblocking",
                "--nolineno",
                "--rate",
                str(SAMPLES_PER_SECOND),
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
