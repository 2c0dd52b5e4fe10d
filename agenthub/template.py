"""Offline translation of template.yaml into the CloudFormation that `sam deploy` would create.

Used by the lint step (cfn-lint only sees what the SAM transform produces) and by the local cloud
(which deploys exactly those resources). Local paths the transform cannot take are swapped out
first: every function's `CodeUri` becomes an S3 placeholder (the original folder is remembered),
and every state machine's `DefinitionUri` file is inlined as `Definition`, so its substitutions
and service ARNs are linted and deployed from the real file.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from agenthub import PROJECT_ROOT, cfn_yaml

DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"
PLACEHOLDER_CODE_BUCKET = "agenthub-offline-code"
DEFAULT_REGION = "us-east-1"
# The translator logs a warning per resource about its own feature-toggle defaults.
logging.getLogger("samtranslator").setLevel(logging.ERROR)


class TemplateError(ValueError):
    """The template cannot be translated; the message names the resource and the problem."""


@dataclass(frozen=True)
class Translation:
    """A translated template plus where each function's code and state machine's definition live."""

    template: dict[str, Any]
    parameters: dict[str, Any]
    code_dirs: dict[str, Path] = field(default_factory=dict)
    definition_files: dict[str, Path] = field(default_factory=dict)
    path: Path = DEFAULT_TEMPLATE
    # A layer's folder by its logical id in the SAM template (the translation renames the resource).
    layer_dirs: dict[str, Path] = field(
        default_factory=dict
    )  # where the template lives: nested templates are relative to it

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources


class _OfflinePolicyLoader:
    """SAM resolves managed policy *names* through IAM; this template names policies by ARN only."""

    def load(self) -> dict[str, str]:
        return {}


def load_sam_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    template = cfn_yaml.load(path)
    if not isinstance(template, dict) or "Resources" not in template:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return template


def _prepare(
    template: dict[str, Any], base: Path
) -> tuple[dict[str, Path], dict[str, Path], dict[str, Path]]:
    """Replaces local CodeUri / ContentUri / DefinitionUri paths in place; returns where they pointed."""
    function_globals = template.get("Globals", {}).get("Function", {})
    default_code = function_globals.pop("CodeUri", None)
    code_dirs: dict[str, Path] = {}
    definition_files: dict[str, Path] = {}
    layer_dirs: dict[str, Path] = {}
    for name, resource in template["Resources"].items():
        properties = resource.setdefault("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            code = properties.get("CodeUri", default_code)
            if not isinstance(code, str) or code.startswith("s3://"):
                raise TemplateError(f"{name}: CodeUri must be a local folder, got {code!r}")
            code_dirs[name] = (base / code).resolve()
            if not code_dirs[name].is_dir():
                raise TemplateError(f"{name}: CodeUri folder {code_dirs[name]} does not exist")
            properties["CodeUri"] = f"s3://{PLACEHOLDER_CODE_BUCKET}/{name}.zip"
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            content = properties.get("ContentUri")
            if not isinstance(content, str) or content.startswith("s3://"):
                raise TemplateError(f"{name}: ContentUri must be a local folder, got {content!r}")
            layer_dirs[name] = (base / content).resolve()
            if not layer_dirs[name].is_dir():
                raise TemplateError(f"{name}: ContentUri folder {layer_dirs[name]} does not exist")
            properties["ContentUri"] = f"s3://{PLACEHOLDER_CODE_BUCKET}/{name}.zip"
        elif resource.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in properties:
            uri = properties.pop("DefinitionUri")
            if not isinstance(uri, str):
                raise TemplateError(f"{name}: DefinitionUri must be a local file, got {uri!r}")
            path = (base / uri).resolve()
            try:
                properties["Definition"] = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise TemplateError(
                    f"{name}: cannot read state machine definition {path}: {error}"
                ) from error
            definition_files[name] = path
    return code_dirs, definition_files, layer_dirs


# The linters whose suppressions a resource's Metadata holds: cfn-lint's and checkov's.
LINTER_METADATA = ("cfn-lint", "checkov")


def with_linter_suppressions(sam_template: dict[str, Any], translated: dict[str, Any]) -> dict[str, Any]:
    """The translation, each SAM resource's linter suppressions also on the resources SAM made for it.

    SAM copies a function's Metadata to its AWS::Lambda::Function alone: its role, its events' rules
    and permissions, an API's stage get none, so a suppression beside the SAM resource would not
    reach a linter that reads the translation. A resource SAM made is one the SAM template does not
    declare, named after the SAM resource (the longest such name, as SAM names what it makes).
    For the linters only: `translate()` itself stays what `sam deploy` would create.
    """
    declared = sam_template["Resources"]
    suppressions = {
        name: {key: resource["Metadata"][key] for key in LINTER_METADATA if key in resource["Metadata"]}
        for name, resource in declared.items()
        if str(resource.get("Type", "")).startswith("AWS::Serverless::")
        and isinstance(resource.get("Metadata"), dict)
    }
    suppressions = {name: carried for name, carried in suppressions.items() if carried}
    result = copy.deepcopy(translated)
    for name, resource in result["Resources"].items():
        if name in declared:
            continue
        owners = [owner for owner in suppressions if name.startswith(owner)]
        if owners:
            carried = suppressions[max(owners, key=len)]
            metadata = resource.setdefault("Metadata", {})
            for key, value in carried.items():
                metadata.setdefault(key, copy.deepcopy(value))
    return result


def translate(
    path: Path = DEFAULT_TEMPLATE,
    parameter_overrides: dict[str, Any] | None = None,
    region: str = DEFAULT_REGION,
) -> Translation:
    sam_template = load_sam_template(path)
    code_dirs, definition_files, layer_dirs = _prepare(sam_template, path.parent)
    declared = sam_template.get("Parameters", {})
    unknown = sorted(set(parameter_overrides or {}) - set(declared))
    if unknown:
        raise TemplateError(f"parameter overrides name parameters the template lacks: {', '.join(unknown)}")
    parameters = {name: spec.get("Default") for name, spec in declared.items()}
    parameters.update(parameter_overrides or {})
    if "Transform" not in sam_template:  # plain CloudFormation: nothing to translate
        return Translation(sam_template, parameters, code_dirs, definition_files, path, layer_dirs)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        translated = translator.translate(
            copy.deepcopy(sam_template),
            parameter_values={name: value for name, value in parameters.items() if value is not None},
            get_managed_policy_map=_OfflinePolicyLoader().load,
        )
    except Exception as error:  # the translator raises its own exception tree; keep its messages
        causes = getattr(error, "causes", None) or [error]
        details = "; ".join(getattr(cause, "message", str(cause)) for cause in causes)
        raise TemplateError(f"{path.name}: the SAM transform failed: {details}") from error
    return Translation(translated, parameters, code_dirs, definition_files, path, layer_dirs)
