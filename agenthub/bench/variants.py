"""What-ifs for the package: the front door's cold start on altered copies of its build folder.

Not what is deployed: copies of the x86_64 twin's folder with one change each, measured the same
way (fewer pairs), so the figure a packaging change should move is measured before it is made.
"""

from __future__ import annotations

import compileall
import shutil
from collections.abc import Callable
from pathlib import Path

from agenthub.bench.artifacts import RUNTIME_PROVIDED


def _compile(folder: Path) -> None:
    compileall.compile_dir(folder, quiet=1, workers=0)


def _without_runtime_copies(folder: Path) -> None:
    """Leaves boto3, botocore and their dependencies to the runtime's own (compiled) copies."""
    for entry in folder.iterdir():
        top = entry.name.split("-", 1)[0].removesuffix(".py").lower()
        if top in RUNTIME_PROVIDED or top == "python_dateutil":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _both(folder: Path) -> None:
    _without_runtime_copies(folder)
    _compile(folder)


VARIANTS: dict[str, Callable[[Path], None]] = {
    "compiled": _compile,
    "without_runtime_copies": _without_runtime_copies,
    "without_runtime_copies_compiled": _both,
}


def variant_build(build_dir: Path, logical_id: str, name: str, work: Path) -> Path:
    """A build folder holding only `logical_id`, changed by the variant `name`."""
    root = work / "variants" / name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(build_dir / logical_id, root / logical_id)
    VARIANTS[name](root / logical_id)
    return root
