"""What a deployment made: one stack's resources (and its nested stacks'), as the local cloud serves them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DeploymentError(RuntimeError):
    """The template cannot be deployed locally; the message names the resources concerned."""


@dataclass(frozen=True)
class Deployed:
    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    code_dir: Path
    timeout: int
    memory: int
    environment: dict[str, str]
    role_arn: str
    reserved_concurrency: int | None = None
    layer_dirs: tuple[Path, ...] = ()  # each layer's folder: Lambda puts its content after the code


@dataclass(frozen=True)
class EventSourceSpec:
    logical_id: str
    function_name: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    enabled: bool
    maximum_concurrency: int | None
    uuid: str = ""


@dataclass(frozen=True)
class StageSpec:
    name: str
    throttle_rate: float | None = None
    throttle_burst: int | None = None
    access_log_format: str | None = None


@dataclass(frozen=True)
class RestApiSpec:
    logical_id: str
    api_id: str
    body: dict[str, Any]
    stages: dict[str, StageSpec] = field(default_factory=dict)


@dataclass
class Stack:
    name: str
    region: str
    account_id: str
    parameters: dict[str, Any]
    resources: dict[str, Deployed] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    # Each deployed resource's properties with every intrinsic resolved, as CloudFormation passed them.
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    rest_apis: dict[str, RestApiSpec] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stack_id: str = ""
    nested: dict[str, Stack] = field(default_factory=dict)  # by the parent's logical id

    def ref(self, logical_id: str) -> str:
        """A resource's Ref; `Parent.Child` names a resource of a nested stack."""
        head, _, rest = logical_id.partition(".")
        if rest:
            return self.nested[head].ref(rest)
        return self.resources[logical_id].ref

    def all_of_type(self, resource_type: str) -> dict[str, Deployed]:
        """Resources of a type here and in nested stacks, by `Parent.Child` logical id."""
        found = self.of_type(resource_type)
        for name, child in self.nested.items():
            found.update(
                {
                    f"{name}.{logical_id}": deployed
                    for logical_id, deployed in child.all_of_type(resource_type).items()
                }
            )
        return found

    def walk(self) -> Iterator[Stack]:
        """This stack and every stack nested in it."""
        yield self
        for child in self.nested.values():
            yield from child.walk()

    def resource_by_attribute(
        self, resource_type: str, attribute: str, value: Any
    ) -> tuple[Stack, str] | None:
        """The stack and logical id of the resource of that type whose attribute has that value."""
        for stack in self.walk():
            for name, kind in stack.types.items():
                if kind == resource_type and stack.resources[name].attributes.get(attribute) == value:
                    return stack, name
        return None

    def function(self, logical_id: str) -> FunctionSpec:
        return self.functions[logical_id]

    def function_by_name(self, name: str) -> FunctionSpec | None:
        return next((spec for spec in self.functions.values() if name in (spec.name, spec.arn)), None)

    def of_type(self, resource_type: str) -> dict[str, Deployed]:
        return {name: self.resources[name] for name, kind in self.types.items() if kind == resource_type}
