"""What `sam build` packages: the deployed build (arm64) and its x86_64 twin that this machine can run.

The template builds for arm64 (Graviton). Its native wheels (pydantic_core, wrapt) cannot be loaded
on an x86_64 machine, so cold starts are measured on a twin built by the same `sam build` from the
same template with only the architecture changed: the same files, but native code for this CPU.
Sizes are always the deployed (arm64) build's.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agenthub import PROJECT_ROOT

DEPLOYED_BUILD = PROJECT_ROOT / ".aws-sam" / "build"
SOURCE_FOLDER = PROJECT_ROOT / "functions"
# What the Lambda Python runtime already provides (boto3 and its dependencies): a copy in the
# package shadows the runtime's own.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


class BuildFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class ArtifactSize:
    bytes: int
    files: int
    compiled_files: int  # .pyc files shipped
    own_code_bytes: int  # the project's own packages (functions/*)
    runtime_provided_bytes: int  # copies of what the Lambda runtime already has


def twin_template(template_text: str, root: Path, architecture: str) -> str:
    """The template with another architecture and its relative code paths made absolute."""
    replacements = {
        "Architectures: [arm64]": f"Architectures: [{architecture}]",
        "BuildArchitecture: arm64": f"BuildArchitecture: {architecture}",
        "CodeUri: functions/": f"CodeUri: {root / 'functions'}/",
        "ContentUri: layers/": f"ContentUri: {root / 'layers'}/",
        "DefinitionUri: statemachines/": f"DefinitionUri: {root / 'statemachines'}/",
        "Location: templates/": f"Location: {root / 'templates'}/",
    }
    for old, new in replacements.items():
        if old not in template_text:
            raise BuildFailed(f"the template no longer has {old!r}; update agenthub/bench/artifacts.py")
        template_text = template_text.replace(old, new)
    return template_text


def sam_build(template: Path, build_dir: Path, cache_dir: Path, layer_platform: str | None = None) -> None:
    """`sam build` without Docker: it needs python3.13 on PATH, the virtualenv's own."""
    bin_dir = Path(sys.executable).parent
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        # The layer's Makefile picks its wheels for this platform (arm64 unless told otherwise).
        **({"LAYER_PLATFORM": layer_platform} if layer_platform else {}),
    }
    done = subprocess.run(  # noqa: S603 - the virtualenv's own sam
        [
            str(bin_dir / "sam"),
            "build",
            "--template",
            str(template),
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(cache_dir),
            "--cached",
            "--parallel",
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildFailed(f"sam build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def runnable_build(work: Path) -> Path:
    """A build this machine can import: the deployed one on arm64, else an x86_64 twin."""
    if platform.machine() in ("aarch64", "arm64"):
        return DEPLOYED_BUILD
    twin = work / "template.x86_64.yaml"
    twin.write_text(twin_template((PROJECT_ROOT / "template.yaml").read_text(), PROJECT_ROOT, "x86_64"))
    build_dir = work / "build-x86_64"
    sam_build(twin, build_dir, work / "cache-x86_64", "manylinux2014_x86_64")
    return build_dir


def _size(path: Path) -> tuple[int, int, int]:
    total = files = compiled = 0
    for item in path.rglob("*") if path.is_dir() else [path]:
        if item.is_file():
            total += item.stat().st_size
            files += 1
            compiled += item.suffix == ".pyc"
    return total, files, compiled


def artifact_size(function_dir: Path, own_packages: set[str]) -> ArtifactSize:
    total, files, compiled = _size(function_dir)
    own = runtime = 0
    packages = layer_content(function_dir) if layer_content(function_dir).is_dir() else function_dir
    for entry in packages.iterdir():
        top = entry.name.split("-", 1)[0].removesuffix(".py").lower()
        if entry.name in own_packages:
            own += _size(entry)[0]
        elif top in RUNTIME_PROVIDED or top == "python_dateutil":
            runtime += _size(entry)[0]
    return ArtifactSize(total, files, compiled, own, runtime)


def artifact_sizes(build_dir: Path = DEPLOYED_BUILD) -> dict[str, ArtifactSize]:
    """Every function folder and layer of a `sam build` output, by logical id."""
    own = {entry.name for entry in SOURCE_FOLDER.iterdir() if (entry / "__init__.py").exists()}
    return {
        entry.name: artifact_size(entry, own)
        for entry in sorted(build_dir.iterdir())
        if entry.is_dir() and (layer_content(entry).is_dir() or own & {item.name for item in entry.iterdir()})
    }


def layer_content(folder: Path) -> Path:
    """Where a built layer's Python packages are (what Lambda mounts as /opt/python)."""
    return folder / "python"


def built_layers(build_dir: Path, source_dirs: dict[str, Path]) -> dict[Path, Path]:
    """Each layer's source folder -> its built python/ folder, for the layers `sam build` built."""
    return {
        source.resolve(): layer_content(build_dir / logical_id)
        for logical_id, source in source_dirs.items()
        if layer_content(build_dir / logical_id).is_dir()
    }
