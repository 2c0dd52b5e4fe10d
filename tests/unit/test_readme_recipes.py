"""The README's shell recipes that read the local cloud's local.json read the one of the state folder
`agenthub local up` uses: `$AGENTHUB_STATE_DIR` when it is set, `.agenthub/` when not."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agenthub import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
ASSIGNMENT = re.compile(r"^([a-z_]+)=")


def shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def local_json(tmp_path: Path, name: str, endpoint: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    info = {
        "endpoint_url": endpoint,
        "outputs": {"CatalogTable": f"{name}-catalog"},
        "resources": {"PreprocessFunction": {"Ref": f"{name}-preprocess"}},
    }
    (folder / "local.json").write_text(json.dumps(info))
    return folder


def test_every_shell_line_that_reads_local_json_reads_the_state_folders() -> None:
    reading = [line for line in shell_lines() if "local.json" in line]

    assert reading, "the README has no recipe reading local.json any more: update this test"
    for line in reading:
        assert ".agenthub/local.json" not in line, line
        assert "$local_json" in line or "${AGENTHUB_STATE_DIR:-.agenthub}/local.json" in line, line


@pytest.mark.parametrize("state_dir_set", [True, False])
def test_the_recipes_variables_come_from_the_state_folder_local_up_uses(
    tmp_path: Path, state_dir_set: bool
) -> None:
    """Run as written (in bash, with jq), the recipes' assignments read $AGENTHUB_STATE_DIR's
    local.json, or ./.agenthub/local.json when it is not set."""
    project = tmp_path / "project"
    project.mkdir()
    local_json(project, ".agenthub", "http://127.0.0.1:4567")
    chosen = local_json(tmp_path, "second-cloud", "http://127.0.0.1:7654")
    assignments = [
        line for line in shell_lines() if ASSIGNMENT.match(line) and ("local.json" in line or "jq " in line)
    ]
    names = sorted({ASSIGNMENT.match(line).group(1) for line in assignments})  # type: ignore[union-attr]
    script = "\n".join(["set -eu", *assignments, *(f'printf "%s=%s\\n" {n} "${n}"' for n in names)])
    env = {"PATH": "/usr/bin:/bin", **({"AGENTHUB_STATE_DIR": str(chosen)} if state_dir_set else {})}

    bash, jq = shutil.which("bash"), shutil.which("jq")
    assert bash, "the recipes are for bash"
    assert jq, "the recipes use jq (https://jqlang.org): install it"
    env["PATH"] = f"{Path(jq).parent}:{env['PATH']}"
    result = subprocess.run(
        [bash, "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    expected = "second-cloud" if state_dir_set else ".agenthub"
    assert values["endpoint"] == ("http://127.0.0.1:7654" if state_dir_set else "http://127.0.0.1:4567")
    assert values["function"] == f"{expected}-preprocess"
