"""What the bench reads of `sam build`'s output, and the x86_64 twin it builds to measure cold starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenthub.bench.artifacts import BuildFailed, artifact_size, artifact_sizes, built_layers, twin_template


def test_the_twin_template_changes_only_the_architecture_and_makes_paths_absolute() -> None:
    template = "Globals:\n  Function:\n    Architectures: [arm64]\n    CodeUri: functions/\n" + (
        "  DefinitionUri: statemachines/a.asl.json\n"
        "  Layer:\n    Metadata:\n      BuildArchitecture: arm64\n    Properties:\n"
        "      ContentUri: layers/hub_library/\n      CompatibleArchitectures: [arm64]\n"
        "  Subscriber:\n    Properties:\n      Location: templates/hub-subscriber.yaml\n"
    )

    twin = twin_template(template, Path("/project"), "x86_64")

    assert "Architectures: [x86_64]" in twin
    assert "CompatibleArchitectures: [x86_64]" in twin
    assert "BuildArchitecture: x86_64" in twin
    assert "CodeUri: /project/functions/" in twin
    assert "ContentUri: /project/layers/hub_library/" in twin
    assert "DefinitionUri: /project/statemachines/a.asl.json" in twin
    assert "Location: /project/templates/hub-subscriber.yaml" in twin


def test_a_template_that_changed_shape_is_reported_not_built_wrong() -> None:
    with pytest.raises(BuildFailed, match="Architectures"):
        twin_template("CodeUri: functions/\nDefinitionUri: statemachines/\n", Path("/p"), "x86_64")


def test_sizes_split_own_code_from_copies_of_what_the_runtime_has(tmp_path: Path) -> None:
    (tmp_path / "front_door").mkdir()
    (tmp_path / "front_door" / "app.py").write_text("x" * 10)
    (tmp_path / "botocore").mkdir()
    (tmp_path / "botocore" / "client.py").write_text("y" * 100)
    (tmp_path / "botocore" / "client.cpython-313.pyc").write_bytes(b"z" * 5)
    (tmp_path / "pydantic").mkdir()
    (tmp_path / "pydantic" / "main.py").write_text("p" * 1000)

    size = artifact_size(tmp_path, {"front_door"})

    assert (size.bytes, size.files, size.compiled_files) == (1115, 4, 1)
    assert size.own_code_bytes == 10
    assert size.runtime_provided_bytes == 105


def test_a_built_layer_is_sized_from_its_python_folder_and_found_by_its_source(tmp_path: Path) -> None:
    build = tmp_path / "build"
    (build / "Library" / "python" / "pydantic").mkdir(parents=True)
    (build / "Library" / "python" / "pydantic" / "main.py").write_text("p" * 100)
    (build / "Library" / "python" / "pydantic" / "main.cpython-313.pyc").write_bytes(b"c" * 50)
    (build / "Front" / "shared").mkdir(parents=True)
    (build / "Front" / "shared" / "hub.py").write_text("h" * 10)
    (build / "template.yaml").write_text("")

    sizes = artifact_sizes(build)
    layers = built_layers(build, {"Library": tmp_path / "layers" / "library", "Other": tmp_path / "other"})

    assert set(sizes) == {"Library", "Front"}
    assert (sizes["Library"].bytes, sizes["Library"].compiled_files) == (150, 1)
    assert sizes["Front"].own_code_bytes == 10
    assert layers == {(tmp_path / "layers" / "library").resolve(): build / "Library" / "python"}
