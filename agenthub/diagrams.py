"""Pictures generated from the sources, never drawn by hand: Mermaid for the README.

- `architecture()`: the hub stack (template.yaml) and every tool stack (tools/*/template.yaml):
  the API, the functions grouped by the microservice whose section of the template declares them,
  the hub topic and each filtered subscription (its filter on the arrow), the state machines and
  what starts them and what they invoke, and the tables each one reads or writes. Edges come from
  the template's own references: environment variables, `DefinitionSubstitutions`, event source
  mappings and API events. Logs, roles, alarms and the data lake (which nearly everything uses,
  under prefixes of its own) are left out so the picture stays readable.
- `state_machine(definition)`: one ASL definition, through the console's own reading of it
  (`agenthub.local.console.graph.state_graph`): `Next`, each Choice rule, `Default`, each `Catch`.

`agenthub diagrams` rewrites the README's generated blocks (between `<!-- generated:NAME -->` and
`<!-- /generated:NAME -->`); tests/unit/test_diagrams.py fails when they are stale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agenthub import PROJECT_ROOT
from agenthub.cfn_yaml import load as load_yaml
from agenthub.local.console.graph import END, START, state_graph

README = PROJECT_ROOT / "README.md"
TEMPLATE = PROJECT_ROOT / "template.yaml"
STATE_MACHINES = PROJECT_ROOT / "statemachines"
_BANNER = re.compile(r"^  # -{20,}$")
_SECTION = re.compile(r"^  # ([A-Z][A-Za-z ]+):")
_RESOURCE = re.compile(r"^  ([A-Za-z0-9]+):\s*$")
_SUBSCRIBER = "hub-subscriber.yaml"


def _label(text: str) -> str:
    """Text inside a Mermaid quoted label: quotes and markup characters as entity codes."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _node_id(prefix: str, logical_id: str) -> str:
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', logical_id)}"


def _sections(template_text: str) -> dict[str, str]:
    """Each resource's microservice: the banner section of the template it is declared in."""
    sections: dict[str, str] = {}
    current, after_banner, in_resources = "", False, False
    for line in template_text.splitlines():
        if line.startswith("Resources:"):
            in_resources = True
            continue
        if in_resources and line and not line.startswith(" "):
            break
        if _BANNER.match(line):
            after_banner = True
            continue
        match = _SECTION.match(line)
        if after_banner and match:
            current = match.group(1)
        after_banner = False
        resource = _RESOURCE.match(line)
        if in_resources and resource:
            sections[resource.group(1)] = current
    return sections


def _filter_text(policy: str) -> str:
    """A subscription's filter policy in a few words: `event_type: request.accepted; first_stage: invoke`."""
    parsed = json.loads(policy)

    def values(rule: list[Any]) -> str:
        shown = []
        for value in rule:
            if isinstance(value, dict) and "suffix" in value:
                shown.append(f"*{value['suffix']}")
            elif isinstance(value, dict) and "prefix" in value:
                shown.append(f"{value['prefix']}*")
            elif isinstance(value, dict) and value.get("exists") is False:
                shown.append("absent")
            elif isinstance(value, dict) and value.get("exists") is True:
                shown.append("present")
            else:
                shown.append(str(value))
        return ", ".join(shown)

    def clause(policy_part: dict[str, Any]) -> str:
        return "; ".join(f"{name}: {values(rule)}" for name, rule in policy_part.items())

    if "$or" in parsed:
        return " OR ".join(f"({clause(part)})" for part in parsed["$or"])
    return clause(parsed)


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            attribute = value["Fn::GetAtt"]
            return str(attribute[0] if isinstance(attribute, list) else attribute.split(".")[0])
    return None


def _import(value: Any) -> str | None:
    """`Fn::ImportValue: !Sub ${HubStackName}-AgentCoreTopic` -> AgentCoreTopic."""
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        imported = value["Fn::ImportValue"]
        text = imported.get("Fn::Sub", "") if isinstance(imported, dict) else str(imported)
        return str(text).rsplit("-", 1)[-1]
    return None


class _Drawing:
    def __init__(self) -> None:
        self.groups: dict[str, list[str]] = {}
        self.edges: list[str] = []

    def node(self, group: str, node_id: str, shape: str) -> None:
        self.groups.setdefault(group, []).append(f"    {node_id}{shape}")

    def edge(self, source: str, arrow: str, target: str, label: str = "") -> None:
        shown = f'|"{_label(label)}"|' if label else ""
        self.edges.append(f"  {source} {arrow}{shown} {target}")

    def render(self) -> str:
        lines = ["flowchart LR", '  client(["client"])']
        for index, (group, nodes) in enumerate(self.groups.items()):
            lines.append(f'  subgraph group{index}["{_label(group)}"]')
            lines.extend(nodes)
            lines.append("  end")
        lines.extend(self.edges)
        return "\n".join(lines)


def architecture(template_path: Path = TEMPLATE) -> str:
    text = template_path.read_text()
    template = load_yaml(template_path)
    sections = _sections(text)
    drawing = _Drawing()
    resources: dict[str, Any] = template["Resources"]
    hub = _node_id("topic", "AgentCoreTopic")
    drawing.node("hub", hub, '(("hub topic (SNS)"))')
    shapes: dict[str, Callable[[str, dict[str, Any]], str]] = {
        "AWS::Serverless::Function": lambda lid, _p: f'["{_label(lid.removesuffix("Function"))}"]',
        "AWS::Serverless::StateMachine": lambda lid, p: f'[["{_label(lid)} ({p["Type"].lower()})"]]',
        "AWS::DynamoDB::Table": lambda lid, _p: f'[("{_label(lid)}")]',
        "AWS::Serverless::Api": lambda lid, _p: f'>"{_label(lid)} (REST, Cognito)"]',
    }
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        if kind in shapes:
            drawing.node(
                sections.get(logical_id) or "hub",
                _node_id("r", logical_id),
                shapes[kind](logical_id, resource.get("Properties", {})),
            )
    _wire(drawing, resources, hub, prefix="r", group_of=lambda lid: sections.get(lid) or "hub")
    for tool_template in sorted(PROJECT_ROOT.glob("tools/*/template.yaml")):
        tool = tool_template.parent.name
        tool_resources: dict[str, Any] = load_yaml(tool_template)["Resources"]
        for logical_id, resource in tool_resources.items():
            if resource["Type"] == "AWS::Serverless::Function":
                drawing.node(f"tool stack: {tool}", _node_id(tool, logical_id), f'["{_label(tool)}"]')
        _wire(drawing, tool_resources, hub, prefix=tool, group_of=_tool_group(tool))
    return drawing.render()


def _tool_group(tool: str) -> Callable[[str], str]:
    return lambda _logical_id: f"tool stack: {tool}"


def _wire(
    drawing: _Drawing, resources: dict[str, Any], hub: str, prefix: str, group_of: Callable[[str], str]
) -> None:
    """The edges one stack's own references make."""
    queues = _wire_subscribers(drawing, resources, hub, prefix, group_of)
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        node = _node_id(prefix, logical_id)
        if kind == "AWS::Lambda::EventSourceMapping":
            source = _ref(properties["EventSourceArn"])
            function = _ref(properties["FunctionName"])
            if source in queues and function:
                drawing.edge(queues[source], "-->", _node_id(prefix, function))
        elif kind == "AWS::Serverless::Function":
            _wire_function(drawing, resources, hub, prefix, logical_id)
        elif kind == "AWS::Serverless::StateMachine":
            for value in properties.get("DefinitionSubstitutions", {}).values():
                target = _ref(value) or ""
                target_kind = resources.get(target, {}).get("Type")
                if target_kind == "AWS::Serverless::Function":
                    drawing.edge(node, "-->", _node_id(prefix, target), "invokes")
                elif target_kind == "AWS::DynamoDB::Table":
                    drawing.edge(node, "-.-", _node_id(prefix, target))
        elif kind == "AWS::Serverless::Api":
            drawing.edge("client", "-->", node, "JWT")


def _wire_subscribers(
    drawing: _Drawing, resources: dict[str, Any], hub: str, prefix: str, group_of: Callable[[str], str]
) -> dict[str, str]:
    """Each hub subscriber unit as a queue node, its filter on the hub's arrow to it; by logical id."""
    queues: dict[str, str] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        location = str(properties.get("Location", ""))
        if resource["Type"] == "AWS::Serverless::Application" and location.endswith(_SUBSCRIBER):
            queue = _node_id(f"{prefix}_q", logical_id)
            queues[logical_id] = queue
            drawing.node(group_of(logical_id), queue, f'[/"{_label(logical_id)} queue + DLQ"/]')
            drawing.edge(hub, "-->", queue, _filter_text(properties["Parameters"]["FilterPolicy"]))
    return queues


def _wire_function(
    drawing: _Drawing, resources: dict[str, Any], hub: str, prefix: str, logical_id: str
) -> None:
    """A function's edges: what its environment names (the hub, a state machine, tables), its routes."""
    properties = resources[logical_id].get("Properties", {})
    node = _node_id(prefix, logical_id)
    for name, value in properties.get("Environment", {}).get("Variables", {}).items():
        target = _ref(value)
        if name == "HUB_TOPIC_ARN" and "AgentCoreTopic" in (target, _import(value)):
            drawing.edge(node, "-->", hub, "publishes")
        elif name == "STATE_MACHINE_ARN" and target:
            verb = "stops" if "Cancel" in logical_id else "starts"
            drawing.edge(node, "-->", _node_id(prefix, target), verb)
        elif target and resources.get(target, {}).get("Type") == "AWS::DynamoDB::Table":
            drawing.edge(node, "-.-", _node_id(prefix, target))
    for event in properties.get("Events", {}).values():
        if event["Type"] == "Api":
            api = _node_id(prefix, _ref(event["Properties"]["RestApiId"]) or "")
            route = f"{event['Properties']['Method'].upper()} {event['Properties']['Path']}"
            drawing.edge(api, "-->", node, route)


def state_machine(definition: dict[str, Any]) -> str:
    graph = state_graph(definition)
    ids = {node_id: f"s{index}" for index, node_id in enumerate(graph.nodes)}
    lines = ["flowchart TD"]
    for node_id, node in graph.nodes.items():
        label = _label(node.label + (f" ({node.detail})" if node.detail else ""))
        if node_id in (START, END):
            shape = f'(("{node.label}"))'
        elif node.kind == "Choice":
            shape = f'{{"{label}"}}'
        elif node.kind in ("Fail", "Succeed"):
            shape = f'(["{label}"])'
        else:
            shape = f'["{label}"]'
        lines.append(f"  {ids[node_id]}{shape}")
    for edge in graph.edges:
        arrow = "-.->" if edge.kind == "catch" else "-->"
        label = edge.title if edge.kind == "catch" else edge.label
        if edge.kind == "catch":
            label = label.replace("catches ", "")
        text = f'|"{_label(label)}"|' if label else ""
        lines.append(f"  {ids[edge.source]} {arrow}{text} {ids[edge.target]}")
    for node_id, node in graph.nodes.items():
        if node.kind == "Fail":
            lines.append(f"  style {ids[node_id]} stroke:#c00")
    return "\n".join(lines)


def generated_blocks() -> dict[str, str]:
    """What goes between each README marker pair, by name."""
    blocks = {"architecture": "```mermaid\n" + architecture() + "\n```"}
    for path in sorted(STATE_MACHINES.glob("*.asl.json")):
        definition = json.loads(path.read_text())
        name = path.name.removesuffix(".asl.json")
        blocks[f"statemachine:{name}"] = (
            f"<details><summary>{path.name}, drawn from its definition</summary>\n\n"
            "```mermaid\n" + state_machine(definition) + "\n```\n\n</details>"
        )
    return blocks


def _replacement(content: str) -> Callable[[re.Match[str]], str]:
    return lambda match: f"{match.group(1)}\n{content}\n{match.group(3)}"


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated:{re.escape(name)} -->)(.*?)(<!-- /generated:{re.escape(name)} -->)", re.S
    )


def rewrite(text: str, blocks: dict[str, str]) -> str:
    """The README with every generated block replaced; a block without its markers is an error."""
    for name, content in blocks.items():
        pattern = _block(name)
        if not pattern.search(text):
            raise LookupError(
                f"README.md has no <!-- generated:{name} --> block: add its markers where it belongs"
            )
        text = pattern.sub(_replacement(content), text)
    return text
