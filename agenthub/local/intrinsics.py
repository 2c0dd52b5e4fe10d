"""CloudFormation intrinsic functions, resolved the way CloudFormation does at deploy time.

moto has its own resolver inside its CloudFormation emulation, but it is bound to moto's stack
model (which cannot create a Cognito user pool); this one resolves against the local deployer's
resources, and names the resource and attribute when something cannot be resolved.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]+)\}")


class ResolutionError(ValueError):
    """A reference the deployer cannot resolve (an unknown resource, attribute or parameter)."""


@dataclass
class Scope:
    """What references resolve against: parameters, pseudo parameters, deployed resources."""

    parameters: dict[str, Any]
    pseudo: dict[str, Any]
    conditions: dict[str, bool] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    ref: Callable[[str], Any] | None = None
    get_att: Callable[[str, str], Any] | None = None
    exports: dict[str, Any] = field(default_factory=dict)

    def resolve_ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if self.ref is None:
            raise ResolutionError(f"Ref to {name!r}: not a parameter or pseudo parameter")
        return self.ref(name)

    def resolve_att(self, name: str, attribute: str) -> Any:
        if self.get_att is None:
            raise ResolutionError(f"GetAtt {name}.{attribute}: no resources in scope")
        return self.get_att(name, attribute)


def _stringify(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_stringify(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve(value: Any, scope: Scope) -> Any:  # noqa: PLR0912 - one branch per intrinsic
    """Returns `value` with every intrinsic resolved; AWS::NoValue entries are dropped."""
    if isinstance(value, list):
        items = [resolve(item, scope) for item in value]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Ref":
            return NO_VALUE if argument == "AWS::NoValue" else scope.resolve_ref(argument)
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return scope.resolve_att(logical_id, resolve(attribute, scope))
        if name == "Fn::Sub":
            return _sub(argument, scope)
        if name == "Fn::Join":
            delimiter, items = argument
            return delimiter.join(_stringify(item) for item in resolve(items, scope))
        if name == "Fn::Select":
            index, items = resolve(argument, scope)
            return items[int(index)]
        if name == "Fn::Split":
            delimiter, text = argument
            return str(resolve(text, scope)).split(delimiter)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return resolve(when_true if evaluate_condition(condition, scope) else when_false, scope)
        if name == "Fn::FindInMap":
            mapping, key, attribute = resolve(argument, scope)
            return scope.mappings[mapping][key][attribute]
        if name == "Fn::Base64":
            return base64.b64encode(str(resolve(argument, scope)).encode()).decode()
        if name == "Fn::ImportValue":
            export = resolve(argument, scope)
            if export not in scope.exports:
                raise ResolutionError(f"Fn::ImportValue {export!r}: no stack exports it")
            return scope.exports[export]
        if name == "Fn::GetAZs":
            region = resolve(argument, scope) or scope.pseudo["AWS::Region"]
            return [f"{region}a", f"{region}b", f"{region}c"]
        if name.startswith("Fn::") and name not in ("Fn::Transform",):
            raise ResolutionError(f"the intrinsic function {name} is not supported by the local deployer")
    resolved = {key: resolve(item, scope) for key, item in value.items()}
    return {key: item for key, item in resolved.items() if item is not NO_VALUE}


def _sub(argument: Any, scope: Scope) -> str:
    if isinstance(argument, list):
        template, variables = argument[0], resolve(argument[1], scope)
    else:
        template, variables = argument, {}

    def replace(match: re.Match[str]) -> str:
        literal, name = match.groups()
        if literal:
            return "${" + name + "}"
        if name in variables:
            return _stringify(variables[name])
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return _stringify(scope.resolve_att(logical_id, attribute))
        return _stringify(scope.resolve_ref(name))

    return _SUB_VARIABLE.sub(replace, template)


def evaluate_condition(condition: Any, scope: Scope) -> bool:
    if isinstance(condition, str):
        if condition not in scope.conditions:
            raise ResolutionError(f"unknown condition {condition!r}")
        return scope.conditions[condition]
    if isinstance(condition, bool):
        return condition
    ((name, argument),) = condition.items()
    if name == "Fn::Equals":
        left, right = (resolve(item, scope) for item in argument)
        return _stringify(left) == _stringify(right)
    if name == "Fn::Not":
        return not evaluate_condition(argument[0], scope)
    if name == "Fn::And":
        return all(evaluate_condition(item, scope) for item in argument)
    if name == "Fn::Or":
        return any(evaluate_condition(item, scope) for item in argument)
    if name == "Condition":
        return evaluate_condition(argument, scope)
    raise ResolutionError(f"unsupported condition function {name}")


def evaluate_conditions(definitions: dict[str, Any], scope: Scope) -> dict[str, bool]:
    """Evaluates every condition, allowing conditions to refer to each other."""
    pending = dict(definitions)
    for _ in range(len(pending) + 1):
        for name, definition in list(pending.items()):
            try:
                scope.conditions[name] = evaluate_condition(definition, scope)
            except ResolutionError:
                continue
            del pending[name]
    if pending:
        raise ResolutionError(f"conditions that cannot be evaluated: {', '.join(sorted(pending))}")
    return scope.conditions


def references(value: Any) -> Iterator[str]:
    """Logical ids (or parameter names) that `value` refers to, for ordering resources."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        for name, argument in value.items():
            if name == "Ref" and isinstance(argument, str):
                yield argument
            elif name == "Fn::GetAtt":
                target = argument[0] if isinstance(argument, list) else str(argument).split(".", 1)[0]
                yield target
            elif name == "Fn::Sub":
                template = argument[0] if isinstance(argument, list) else argument
                local = set(argument[1]) if isinstance(argument, list) else set()
                for literal, variable in _SUB_VARIABLE.findall(template):
                    if not literal and variable.split(".", 1)[0] not in local:
                        yield variable.split(".", 1)[0]
                if isinstance(argument, list):
                    yield from references(argument[1])
            else:
                yield from references(argument)
