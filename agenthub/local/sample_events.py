"""The sample events in `events/`, which name the stack's resources rather than made-up ones.

An event names a resource of the stack the way `Fn::Sub` does in the template, in any string
(JSON inside a string too, such as an SQS record's SNS body):

- `${LogicalId}`: the resource's Ref (a bucket's name, a queue's URL, a topic's ARN);
- `${LogicalId.Attribute}`: its `Fn::GetAtt` (`${DataLakeBucket.Arn}`);
- `${Parent.Child}` and `${Parent.Child.Attribute}`: a resource of a nested stack
  (`${CoreWriterSubscriber.Queue.Arn}`);
- an output's name (`${ApiUrl}`), when no resource has that logical id;
- `${AWS::Region}`, `${AWS::AccountId}`, `${AWS::StackName}`, `${AWS::Partition}`;
- `${!Text}` is the literal `${Text}`.

They are resolved when the event is used, against the deployment at hand: the running local cloud
(`agenthub local invoke`, `agenthub local event`) or a `Stack` in the tests. A name the deployment
lacks is an error that names the closest ones, never a silently unresolved string.

An event that needs something first has a sidecar beside it, `<name>.needs.json`:

    {"why": "what the event reads and so what must exist first",
     "objects": [{"bucket": "${DataLakeBucket}", "key": "datasets/...", "file": "sft_dataset.jsonl"}],
     "invoke": [{"function": "CoreWriterFunction", "event": "core/hub_events.json"}]}

`objects` are put into S3 first (from a file beside the sidecar, or `text`); `invoke` names events
to run first through their functions (and their own needs before them).

A sample's ids are fixed (its caller's `sub`, request ids, event ids), so run as written into a
local cloud someone uses, a second run would meet the first one's rows: a replayed answer, a
dedupe record, a 409. `FreshIds` gives one run new ids instead, every UUID in the event and in
what it needs first replaced consistently (a request recorded first, then read, is the same new
request), as the benchmarks' `fresh_sample` does; the run's rows are its own, under a caller of
its own that no person is.
"""

from __future__ import annotations

import difflib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agenthub import PROJECT_ROOT

if TYPE_CHECKING:
    from agenthub.local.stack import Stack

EVENTS_DIR = PROJECT_ROOT / "events"
NEEDS_SUFFIX = ".needs.json"
_PLACEHOLDER = re.compile(r"\$\{(!?)([A-Za-z0-9_:.]+)\}")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
Rename = Callable[[str], str]  # an event file's text -> the text to use


class FreshIds:
    """New ids for one run of a sample and what it needs first: each UUID in their text becomes a
    new one, the same UUID always the same new one. Applied to the files' text before their
    `${...}` are resolved, so the deployment's own names (which may hold UUIDs) stay as they are."""

    def __init__(self) -> None:
        self.renamed: dict[str, str] = {}  # the sample's id -> this run's

    def __call__(self, text: str) -> str:
        return _UUID.sub(lambda match: self._fresh(match.group(0)), text)

    def _fresh(self, sample_id: str) -> str:
        key = sample_id.lower()
        if key not in self.renamed:
            self.renamed[key] = str(uuid.uuid4())
        return self.renamed[key]

    def as_written(self, value: Any) -> Any:
        """`value` (an answer to the run) with this run's ids back as the sample wrote them."""
        written = {fresh: sample for sample, fresh in self.renamed.items()}
        text = _UUID.sub(lambda match: written.get(match.group(0), match.group(0)), json.dumps(value))
        return json.loads(text)


class UnknownName(LookupError):
    """An event names something the deployment does not have."""


def resource_table(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every resource of the stack and of its nested stacks (as `Parent.Child`): its type, Ref and
    attributes. `local up` writes it to local.json as `resources`."""
    table: dict[str, dict[str, Any]] = {}

    def add(current: Stack, prefix: str) -> None:
        for logical_id, deployed in current.resources.items():
            table[prefix + logical_id] = {
                "Type": current.types.get(logical_id, ""),
                "Ref": deployed.ref,
                **deployed.attributes,
            }
        for name, child in current.nested.items():
            add(child, f"{prefix}{name}.")

    add(stack, "")
    return table


@dataclass(frozen=True)
class Names:
    """What an event's placeholders can name in one deployment."""

    resources: dict[str, dict[str, Any]]
    outputs: dict[str, Any] = field(default_factory=dict)
    pseudo: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_stack(cls, stack: Stack) -> Names:
        pseudo = _pseudo(stack.region, stack.account_id, stack.name)
        return cls(resource_table(stack), dict(stack.outputs), pseudo)

    @classmethod
    def of_local_cloud(cls, info: dict[str, Any]) -> Names:
        """From a running local cloud's local.json."""
        account_id = str(info.get("account_id", "123456789012"))
        pseudo = _pseudo(str(info["region"]), account_id, str(info.get("stack_name", "")))
        # Only the local cloud has it: where a sample's URL (a custom resource's answer) must point.
        pseudo["AgentHub::EndpointUrl"] = str(info["endpoint_url"])
        return cls(dict(info.get("resources", {})), dict(info.get("outputs", {})), pseudo)

    def value(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.resources:
            return str(self.resources[name]["Ref"])
        # `A.B.Attr`: the longest resource name that leaves an attribute it has.
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            resource, attribute = ".".join(parts[:cut]), ".".join(parts[cut:])
            if resource in self.resources and attribute in self.resources[resource]:
                return str(self.resources[resource][attribute])
        if name in self.outputs:
            return str(self.outputs[name])
        # A name can be both a resource and an output (DataLakeBucket): suggest it once.
        known = list(dict.fromkeys([*self.resources, *self.outputs, *self.pseudo]))
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UnknownName(f"${{{name}}} names nothing in the deployed stack{hint}")


def _pseudo(region: str, account_id: str, stack_name: str) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": stack_name,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def resolve(value: Any, names: Names) -> Any:
    """The value with every `${...}` in its strings replaced by what it names."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            literal, name = match.groups()
            return "${" + name + "}" if literal else names.value(name)

        return _PLACEHOLDER.sub(substitute, value)
    if isinstance(value, list):
        return [resolve(item, names) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, names) for key, item in value.items()}
    return value


def placeholders(value: Any) -> set[str]:
    """The names an event's placeholders refer to."""
    return set(_names_in(json.dumps(value)))


def _names_in(text: str) -> list[str]:
    return [name for literal, name in _PLACEHOLDER.findall(text) if not literal]


# -- what an event needs first -------------------------------------------------------------------


@dataclass(frozen=True)
class LakeObject:
    bucket: str
    key: str
    body: bytes


@dataclass(frozen=True)
class Prerequisite:
    function: str
    event: Path


@dataclass(frozen=True)
class Needs:
    why: str = ""
    objects: tuple[LakeObject, ...] = ()
    invoke: tuple[Prerequisite, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.objects or self.invoke)


def needs_path(event: Path) -> Path:
    return event.with_name(event.name.removesuffix(".json") + NEEDS_SUFFIX)


def is_project_sample(path: Path | None) -> bool:
    """One of this project's sample events (events/, tools/<name>/events/): those get fresh ids
    (`FreshIds`). An event of the user's own, a file elsewhere or standard input, names records
    they mean, and runs as written."""
    if path is None or str(path) == "-":
        return False
    resolved = path.resolve()
    folders = [EVENTS_DIR, *sorted((PROJECT_ROOT / "tools").glob("*/events"))]
    return any(resolved.is_relative_to(folder.resolve()) for folder in folders)


def is_sample_event(path: Path) -> bool:
    """A JSON event file, not a sidecar."""
    return path.suffix == ".json" and not path.name.endswith(NEEDS_SUFFIX)


def load_needs(event: Path, names: Names, rename: Rename | None = None) -> Needs:
    """What the event needs first (its `.needs.json`), resolved; nothing when it has no sidecar."""
    sidecar = needs_path(event)
    if not sidecar.exists():
        return Needs()
    text = sidecar.read_text()
    spec = resolve(json.loads(rename(text) if rename else text), names)
    objects = []
    for item in spec.get("objects", []):
        body = (sidecar.parent / item["file"]).read_bytes() if "file" in item else str(item["text"]).encode()
        objects.append(LakeObject(str(item["bucket"]), str(item["key"]), body))
    invoke = tuple(
        Prerequisite(str(item["function"]), (EVENTS_DIR / item["event"]).resolve())
        for item in spec.get("invoke", [])
    )
    return Needs(str(spec.get("why", "")), tuple(objects), invoke)


def load_event(path: Path, names: Names | None = None, rename: Rename | None = None) -> Any:
    """An event file, its ids renamed by `rename` and resolved against `names` when given ("-"
    reads standard input)."""
    import sys

    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    text = rename(text) if rename else text
    event = json.loads(text) if text.strip() else {}
    return resolve(event, names) if names is not None else event
