"""What `sam build` reads for each function: its CodeUri's requirements.txt, which installs nothing
(the libraries come from the hub library layer), so the build neither warns it is missing nor
installs a second, unpinned copy of what the layer holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenthub import PROJECT_ROOT
from agenthub.template import load_sam_template

TEMPLATES = [PROJECT_ROOT / "template.yaml", *sorted(PROJECT_ROOT.glob("tools/*/template.yaml"))]


def code_folders(template: Path) -> dict[str, Path]:
    """Every Python function's CodeUri folder, by logical id (the Globals' when it has none)."""
    document = load_sam_template(template)
    defaults = document.get("Globals", {}).get("Function", {})
    folders = {}
    for logical_id, resource in document["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = {**defaults, **resource.get("Properties", {})}
        if str(properties.get("Runtime", "")).startswith("python"):
            folders[logical_id] = template.parent / properties["CodeUri"]
    return folders


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_every_python_functions_code_folder_has_a_requirements_file_that_installs_nothing(
    template: Path,
) -> None:
    folders = code_folders(template)

    assert folders, f"{template} has no Python function"
    for logical_id, folder in folders.items():
        requirements = folder / "requirements.txt"
        assert requirements.is_file(), f"{logical_id}: sam build would warn that {requirements} is missing"
        lines = [line.strip() for line in requirements.read_text().splitlines()]
        packages = [line for line in lines if line and not line.startswith("#")]
        assert packages == [], f"{requirements} installs {packages}: the layer's requirements.txt pins them"
        assert any("layer" in line for line in lines), f"{requirements} should say why it is empty"
