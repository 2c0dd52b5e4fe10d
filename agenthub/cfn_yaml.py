"""Loads CloudFormation YAML (with its short-form intrinsic tags) into plain JSON-shaped data.

SAM CLI and cfn-lint each carry such a loader, but both are large installs the local cloud does
not otherwise need; the format is small enough to read here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_SCALAR_AS_LIST = {"GetAtt"}


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix in _SCALAR_AS_LIST:
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def _no_datetimes() -> None:
    # CloudFormation reads "2010-09-09" as a string; YAML's timestamp resolver would not.
    for first, resolvers in list(_CfnLoader.yaml_implicit_resolvers.items()):
        _CfnLoader.yaml_implicit_resolvers[first] = [
            (tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"
        ]


_no_datetimes()


def loads(text: str) -> Any:
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


def load(path: Path) -> Any:
    return loads(path.read_text())
