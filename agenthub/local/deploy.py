"""Deploys a translated template into an AWS emulator, resource by resource, in dependency order.

moto's own CloudFormation cannot create Cognito user pools (and so fails on the first GetAtt to
one), so this walks the SAM-translated resources and calls each service's API, the way
CloudFormation would (`agenthub.local.creators` says how, type by type). A template with a type no
creator knows is refused up front with the resources named, never half-deployed. Nested stacks
(SAM applications with a local template) are deployed as stacks of their own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from agenthub.local import deploy_rules
from agenthub.local.intrinsics import ResolutionError, Scope, evaluate_conditions, references, resolve
from agenthub.local.stack import (
    Deployed,
    DeploymentError,
    EventSourceSpec,
    FunctionSpec,
    RestApiSpec,
    Stack,
    StageSpec,
)
from agenthub.template import TemplateError, Translation, translate

DEFAULT_ACCOUNT_ID = "123456789012"
ClientFactory = Callable[[str], Any]
# (service token, CloudFormation's request event) -> the custom resource's response document.
CustomResourceHandler = Callable[[str, dict[str, Any]], dict[str, Any]]

__all__ = [
    "Deployed",
    "Deployer",
    "DeploymentError",
    "EventSourceSpec",
    "FunctionSpec",
    "RestApiSpec",
    "Stack",
    "StageSpec",
]


class Deployer:
    def __init__(
        self,
        translation: Translation,
        clients: ClientFactory,
        stack_name: str,
        region: str,
        account_id: str = DEFAULT_ACCOUNT_ID,
        exports: dict[str, Any] | None = None,
        layers: dict[str, Path] | None = None,
        custom_resources: CustomResourceHandler | None = None,
    ) -> None:
        # Layer ARN -> its folder, shared by every stack the local cloud deploys (a tool imports the
        # hub's layer); the handler that answers custom resources (needs the running local cloud).
        self.layers: dict[str, Path] = layers if layers is not None else {}
        self.custom_resources = custom_resources
        self.translation = translation
        self._clients = clients
        self._template = translation.template
        stack_id = (
            f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/"
            + str(hashlib.sha256(stack_name.encode()).hexdigest()[:8])
            + "-0000-4000-8000-000000000000"
        )
        self.stack = Stack(stack_name, region, account_id, dict(translation.parameters), stack_id=stack_id)
        self._scope = Scope(
            parameters=self._typed_parameters(),
            pseudo={
                "AWS::Region": region,
                "AWS::AccountId": account_id,
                "AWS::StackName": stack_name,
                "AWS::StackId": stack_id,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NotificationARNs": [],
            },
            mappings=self._template.get("Mappings", {}),
            ref=self._ref,
            get_att=self._get_att,
            exports=exports if exports is not None else {},
        )

    # -- planning -------------------------------------------------------------------------------

    def _typed_parameters(self) -> dict[str, Any]:
        declared = self._template.get("Parameters", {})
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            value = self.stack.parameters.get(name, spec.get("Default"))
            if value is None:
                raise DeploymentError(f"parameter {name} has no value and no default")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [part.strip() for part in value.split(",")]
            values[name] = value
        return values

    def unsupported(self) -> list[str]:
        from agenthub.local.creators import creator_for

        return sorted(
            f"{name} ({resource['Type']})"
            for name, resource in self._template["Resources"].items()
            if creator_for(resource["Type"]) is None
        )

    def plan(self) -> list[str]:
        resources = self._template["Resources"]
        graph: dict[str, set[str]] = {}
        for name, resource in resources.items():
            depends = resource.get("DependsOn", [])
            depends = [depends] if isinstance(depends, str) else list(depends)
            graph[name] = {ref for ref in references(resource.get("Properties", {})) if ref in resources}
            graph[name].update(depends)
        try:
            return list(TopologicalSorter(graph).static_order())
        except CycleError as error:
            raise DeploymentError(f"circular references between resources: {error.args[1]}") from error

    # -- deploying ------------------------------------------------------------------------------

    def deploy(self) -> Stack:
        from agenthub.local.creators import creator_for

        missing = self.unsupported()
        if missing:
            raise DeploymentError(
                "the local cloud cannot create these resources: " + ", ".join(missing) + "."
                " Add a creator for the type in agenthub/local/creators.py."
            )
        evaluate_conditions(self._template.get("Conditions", {}), self._scope)
        for name in self.plan():
            resource = self._template["Resources"][name]
            condition = resource.get("Condition")
            if condition and not self._scope.conditions[condition]:
                continue
            try:
                properties = resolve(resource.get("Properties", {}), self._scope)
                creator = creator_for(resource["Type"])
                assert creator is not None  # checked by unsupported() above  # noqa: S101
                deployed = creator(self, name, properties)
            except DeploymentError:
                raise
            except deploy_rules.DeployRuleBroken as error:
                raise DeploymentError(f"{name} ({resource['Type']}): AWS would refuse it: {error}") from error
            except (ResolutionError, KeyError, TypeError, ValueError) as error:
                raise DeploymentError(f"{name} ({resource['Type']}): {error}") from error
            except Exception as error:  # an emulator API error: name the resource that failed
                raise DeploymentError(f"{name} ({resource['Type']}): {error}") from error
            self.stack.resources[name] = deployed
            self.stack.types[name] = resource["Type"]
            self.stack.properties[name] = properties
        self._outputs()
        return self.stack

    def _outputs(self) -> None:
        for name, output in self._template.get("Outputs", {}).items():
            condition = output.get("Condition")
            if condition and not self._scope.conditions[condition]:
                continue
            value = resolve(output["Value"], self._scope)
            self.stack.outputs[name] = value
            if "Export" in output:
                self.stack.exports[resolve(output["Export"]["Name"], self._scope)] = value

    def _ref(self, name: str) -> Any:
        if name not in self.stack.resources:
            raise ResolutionError(f"Ref to {name!r}: no such parameter or deployed resource")
        return self.stack.resources[name].ref

    def _get_att(self, name: str, attribute: str) -> Any:
        deployed = self.stack.resources.get(name)
        if deployed is None:
            raise ResolutionError(f"GetAtt {name}.{attribute}: no such deployed resource")
        if attribute not in deployed.attributes:
            known = ", ".join(sorted(deployed.attributes)) or "none"
            raise ResolutionError(f"GetAtt {name}.{attribute}: unknown attribute (known: {known})")
        return deployed.attributes[attribute]

    # -- helpers for creators ---------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return self._clients(service)

    def physical_name(self, logical_id: str, limit: int, lowercase: bool = False) -> str:
        suffix = hashlib.sha256(f"{self.stack.name}/{logical_id}".encode()).hexdigest()[:12].upper()
        name = f"{self.stack.name}-{logical_id}"[: limit - len(suffix) - 1] + f"-{suffix}"
        return name.lower() if lowercase else name

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.stack.region}:{self.stack.account_id}:{resource}"

    def note(self, logical_id: str, properties: dict[str, Any], applied: set[str]) -> None:
        skipped = sorted(set(properties) - applied - {"Tags"})
        if skipped:
            self.stack.notes.append(f"{logical_id}: not applied locally: {', '.join(skipped)}")

    def deploy_nested(self, logical_id: str, template_url: str, parameters: dict[str, Any]) -> Stack:
        """Deploys a nested stack's template (a path relative to this template) as its own stack."""
        path = (self.translation.path.parent / template_url).resolve()
        try:
            child_translation = translate(
                path, {name: str(value) for name, value in parameters.items()}, self.stack.region
            )
        except TemplateError as error:
            raise DeploymentError(f"{logical_id}: nested template {template_url}: {error}") from error
        suffix = hashlib.sha256(f"{self.stack.name}/{logical_id}".encode()).hexdigest()[:12].upper()
        child = Deployer(
            child_translation,
            self._clients,
            f"{self.stack.name}-{logical_id}-{suffix}",
            self.stack.region,
            self.stack.account_id,
            layers=self.layers,
            custom_resources=self.custom_resources,
        ).deploy()
        self.stack.nested[logical_id] = child
        self.stack.notes.extend(f"{logical_id}/{note}" for note in child.notes)
        return child
