"""What-ifs for the package: the front door's cold start on altered copies of its build folder.

Not what is deployed: a copy of the x86_64 twin's folder, or the same folder with other settings,
measured the same way (fewer pairs), so the figure a change should move is measured before it is
made, and what a setting left off would cost is measured too.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def _compile(folder: Path) -> None:
    # As the layer's Makefile compiles: used without checking the sources' timestamps.
    compileall.compile_dir(
        folder, quiet=1, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


@dataclass(frozen=True)
class Variant:
    change: Callable[[Path], None] | None = None  # applied to a copy of the function's folder
    environment: dict[str, str] = field(default_factory=dict)  # over the function's own


VARIANTS: dict[str, Variant] = {
    # The hub's own code compiled too (the layer already is).
    "own_code_compiled": Variant(change=_compile),
    # Powertools' Tracer on: X-Ray subsegments for every AWS call (TraceAwsCalls=true).
    "sdk_tracer": Variant(environment={"POWERTOOLS_TRACE_DISABLED": "false"}),
}


def variant_build(build_dir: Path, logical_id: str, name: str, work: Path) -> Path:
    """A build folder holding only `logical_id`, changed by the variant `name`."""
    root = work / "variants" / name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(build_dir / logical_id, root / logical_id)
    change = VARIANTS[name].change
    if change is not None:
        change(root / logical_id)
    return root
