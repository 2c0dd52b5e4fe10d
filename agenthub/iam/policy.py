"""IAM policy evaluation for identity policies: does a set of statements allow an action on a resource?

Written here rather than taken from moto (`moto.iam.access_control`), whose evaluator knows only the
`StringEquals` condition operator; the hub's policies also use `StringLike`, `ArnEquals` and
`Bool`. It follows the rules IAM documents for one account's identity policies: an explicit deny
wins, then any allow; `*` and `?` match within actions (case-insensitively) and resources; a
condition on a key the request does not carry fails, unless its operator ends in `IfExists`:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
An operator it does not know is an error, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any


class UnsupportedPolicy(ValueError):
    """A policy uses an element or condition operator this evaluator does not know."""


@cache
def _pattern(glob: str, case_sensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in glob)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE)


def matches(glob: str, value: str, case_sensitive: bool = True) -> bool:
    return _pattern(glob, case_sensitive).match(value) is not None


def _listed(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(item) for item in (value if isinstance(value, list) else [value]))


def _string_like(expected: str, actual: str) -> bool:
    return matches(expected, actual)


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringNotEquals": lambda expected, actual: expected != actual,
    "StringEqualsIgnoreCase": lambda expected, actual: expected.lower() == actual.lower(),
    "StringLike": _string_like,
    "StringNotLike": lambda expected, actual: not _string_like(expected, actual),
    "ArnEquals": _string_like,
    "ArnLike": _string_like,
    "ArnNotEquals": lambda expected, actual: not _string_like(expected, actual),
    "ArnNotLike": lambda expected, actual: not _string_like(expected, actual),
    "Bool": lambda expected, actual: expected.lower() == actual.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = ""  # where it came from: role, policy and Sid, for reports

    def covers_action(self, action: str) -> bool:
        if self.not_actions:
            return not any(matches(glob, action, case_sensitive=False) for glob in self.not_actions)
        return any(matches(glob, action, case_sensitive=False) for glob in self.actions)

    def covers_resource(self, resource: str) -> bool:
        if self.not_resources:
            return not any(matches(glob, resource) for glob in self.not_resources)
        return any(matches(glob, resource) for glob in self.resources)

    def conditions_hold(self, context: Mapping[str, str]) -> bool:
        for operator, keys in self.conditions.items():
            base = operator.removesuffix("IfExists")
            if base not in _OPERATORS:
                raise UnsupportedPolicy(f"{self.source}: condition operator {operator} is not supported")
            for key, expected in keys.items():
                if key not in context:
                    # A negated operator on a missing key holds; so does any ...IfExists.
                    if operator.endswith("IfExists") or base in _NEGATED:
                        continue
                    return False
                test = _OPERATORS[base]
                values = _listed(expected)
                # Several values in one condition are ORed; a negated operator must hold for all.
                held = (all if base in _NEGATED else any)(test(value, context[key]) for value in values)
                if not held:
                    return False
        return True

    def applies(self, action: str, resource: str, context: Mapping[str, str]) -> bool:
        return self.covers_action(action) and self.covers_resource(resource) and self.conditions_hold(context)


def statements_of(document: Mapping[str, Any], source: str) -> list[Statement]:
    """The statements of one policy document; `source` names the policy in reports."""
    raw = document.get("Statement", [])
    statements = []
    for index, item in enumerate(raw if isinstance(raw, list) else [raw]):
        known = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        unknown = set(item) - known
        if unknown:
            raise UnsupportedPolicy(f"{source}: statement elements {sorted(unknown)} are not supported")
        statements.append(
            Statement(
                effect=item["Effect"],
                actions=_listed(item.get("Action")),
                not_actions=_listed(item.get("NotAction")),
                resources=_listed(item.get("Resource")),
                not_resources=_listed(item.get("NotResource")),
                conditions=item.get("Condition", {}),
                source=f"{source}#{item.get('Sid', index)}",
            )
        )
    return statements


@dataclass(frozen=True)
class Decision:
    allowed: bool
    by: Statement | None = None  # the statement that allowed or denied


@dataclass(frozen=True)
class Policies:
    """Every identity policy statement of one principal."""

    statements: tuple[Statement, ...]

    @classmethod
    def of(cls, statements: Iterable[Statement]) -> Policies:
        return cls(tuple(statements))

    def decide(self, action: str, resource: str, context: Mapping[str, str] | None = None) -> Decision:
        context = context or {}
        allowed_by = None
        for statement in self.statements:
            if not statement.applies(action, resource, context):
                continue
            if statement.effect == "Deny":
                return Decision(False, statement)
            allowed_by = allowed_by or statement
        return Decision(allowed_by is not None, allowed_by)

    def allows(self, action: str, resource: str, context: Mapping[str, str] | None = None) -> bool:
        return self.decide(action, resource, context).allowed
