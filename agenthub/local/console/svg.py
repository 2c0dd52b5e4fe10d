"""A state graph drawn as inline SVG, with an execution's path, retries and caught errors marked.

Drawn on the server, so the page needs no script and no graph library: the console works with
scripts off, its pages cannot fail on a library's parse error, and the browser test reads the
marks as plain elements (`data-state`, classes). Colours live in console.css.
"""

from __future__ import annotations

import textwrap
from html import escape

from agenthub.local.console.graph import END, START, Edge, ExecutionTrace, Node, StateGraph, StateRun
from agenthub.local.console.layout import Layout, layout

NODE_WIDTH = 212
TERMINAL_WIDTH = 84
TERMINAL_HEIGHT = 30
LINE_HEIGHT = 15
LABEL_CHARACTERS = 29  # what fits on one line of a node at the console's font size
MAX_LABEL_LINES = 3
KIND_CHARACTERS = 36
CATCH_WEIGHT = 0.1  # of the smaller type line
CHARACTER_WIDTH = 6.3  # of the edge labels' small font, to size their background


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lines(label: str) -> list[str]:
    lines = textwrap.wrap(label, LABEL_CHARACTERS) or [""]
    if len(lines) > MAX_LABEL_LINES:
        lines = lines[:MAX_LABEL_LINES]
        lines[-1] = lines[-1][: LABEL_CHARACTERS - 1] + "…"
    return lines


def _size(node: Node) -> tuple[float, float]:
    if node.kind in ("start", "end"):
        return TERMINAL_WIDTH, TERMINAL_HEIGHT
    return NODE_WIDTH, 26 + LINE_HEIGHT * len(_lines(node.label))


def _path(points: list[tuple[float, float]]) -> str:
    """Straight through each layer an edge passes, curved (vertical tangents) between layers."""
    (x0, y0), *rest = points
    parts = [f"M{x0:.1f},{y0:.1f}"]
    previous = (x0, y0)
    for x, y in rest:
        px, py = previous
        if abs(px - x) < 0.5:
            parts.append(f"L{x:.1f},{y:.1f}")
        else:
            middle = (py + y) / 2
            parts.append(f"C{px:.1f},{middle:.1f} {x:.1f},{middle:.1f} {x:.1f},{y:.1f}")
        previous = (x, y)
    return " ".join(parts)


def _node_title(node: Node, run: StateRun | None) -> str:
    lines = [node.label, node.kind + (f" · {node.detail}" if node.detail else "")]
    if node.comment:
        lines.append(node.comment)
    if run is not None:
        lines.append(f"visited {run.visits}x")
        if run.retries:
            lines.append(f"retried {run.retries}x after: {', '.join(run.retried_errors)}")
        if run.caught_errors:
            lines.append(f"caught: {', '.join(run.caught_errors)}")
        if run.failed_with:
            lines.append(f"failed: {run.failed_with}")
    return "\n".join(lines)


def _node_classes(node: Node, run: StateRun | None, trace: ExecutionTrace | None) -> str:
    classes = ["node", f"kind-{node.kind.lower()}"]
    if trace is None:
        return " ".join(classes)
    reached = run is not None and run.visits > 0
    if node.id == START or (node.id == END and trace.status == "SUCCEEDED"):
        reached = True
    if node.id == END and any(t.target == END for t in trace.transitions):
        reached = True
    classes.append("visited" if reached else "unvisited")
    if run is not None:
        if run.retries:
            classes.append("retried")
        if run.caught_errors:
            classes.append("caught")
        if run.failed_with:
            classes.append("failed")
    if node.kind == "Fail" and run is not None and run.visits:
        classes.append("failed")
    if trace.current == node.id and trace.status == "RUNNING":
        classes.append("current")
    return " ".join(classes)


def _badges(run: StateRun | None) -> list[tuple[str, str, str]]:
    """(css class, text, tooltip) for the marks at a node's top right."""
    if run is None:
        return []
    badges = []
    if run.visits > 1:
        badges.append(("badge-visits", f"{run.visits}x", f"visited {run.visits} times"))
    if run.retries:
        badges.append(("badge-retry", f"↻ {run.retries}", "retried after: " + ", ".join(run.retried_errors)))
    if run.caught_errors:
        badges.append(("badge-caught", "caught", "caught: " + ", ".join(run.caught_errors)))
    if run.failed_with:
        badges.append(("badge-failed", "failed", "failed: " + run.failed_with))
    return badges


def _draw_node(
    node: Node,
    box_x: float,
    box_y: float,
    width: float,
    height: float,
    classes: str,
    title: str,
    badges: list[tuple[str, str, str]],
) -> list[str]:
    out = [
        f'<g class="{classes}" data-node="{escape(node.id)}"'
        + (f' data-state="{escape(node.label)}"' if node.id not in (START, END) else "")
        + ">",
        f"<title>{escape(title)}</title>",
    ]
    if node.kind in ("start", "end"):
        out.append(
            f'<rect class="box" x="{box_x:.1f}" y="{box_y:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'rx="{height / 2:.1f}"/>'
        )
        out.append(
            f'<text class="label" x="{box_x + width / 2:.1f}" y="{box_y + height / 2 + 4:.1f}" '
            f'text-anchor="middle">{escape(node.label)}</text>'
        )
    else:
        radius = 14 if node.kind == "Choice" else 6
        out.append(
            f'<rect class="box" x="{box_x:.1f}" y="{box_y:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'rx="{radius}"/>'
        )
        kind = node.kind + (f" · {node.detail}" if node.detail else "")
        out.append(
            f'<text class="kind" x="{box_x + 10:.1f}" y="{box_y + 15:.1f}">'
            f"{escape(_clip(kind, KIND_CHARACTERS))}</text>"
        )
        for index, line in enumerate(_lines(node.label)):
            out.append(
                f'<text class="label" x="{box_x + 10:.1f}" '
                f'y="{box_y + 31 + index * LINE_HEIGHT:.1f}">{escape(line)}</text>'
            )
    right = box_x + width
    for css, text, tooltip in reversed(badges):
        badge_width = 12 + CHARACTER_WIDTH * len(text)
        right -= badge_width + 4
        out.append(
            f'<g class="badge {css}"><title>{escape(tooltip)}</title>'
            f'<rect x="{right:.1f}" y="{box_y - 9:.1f}" width="{badge_width:.1f}" height="17" rx="8"/>'
            f'<text x="{right + badge_width / 2:.1f}" y="{box_y + 3.5:.1f}" text-anchor="middle">'
            f"{escape(text)}</text></g>"
        )
    out.append("</g>")
    return out


def _edge_classes(edge: Edge, taken: int, reversed_edge: bool) -> str:
    classes = ["edge", f"kind-{edge.kind}"]
    if taken:
        classes.append("taken")
    if reversed_edge:
        classes.append("loop")
    return " ".join(classes)


def _draw_edge(
    edge: Edge, route: list[tuple[float, float]], classes: str, taken: int, upwards: bool, prefix: str
) -> list[str]:
    if not route:
        return []
    marker = "arrow-caught" if "kind-catch" in classes and taken else "arrow-taken" if taken else "arrow"
    marker = f"{prefix}-{marker}"
    title = edge.title or edge.kind
    if taken:
        title += f" (taken {taken}x)"
    out = [
        f'<g class="{classes}" data-source="{escape(edge.source)}" data-target="{escape(edge.target)}">',
        f"<title>{escape(title)}</title>",
        f'<path d="{_path(route)}" marker-end="url(#{escape(marker)})"/>',
    ]
    if edge.label:
        x, y = route[0]
        label_y = y - 10 if upwards else y + 16
        text_width = CHARACTER_WIDTH * len(edge.label) + 8
        out.append(
            f'<rect class="edge-label-bg" x="{x + 3:.1f}" y="{label_y - 11:.1f}" '
            f'width="{text_width:.1f}" height="15" rx="3"/>'
        )
        out.append(f'<text class="edge-label" x="{x + 7:.1f}" y="{label_y:.1f}">{escape(edge.label)}</text>')
    out.append("</g>")
    return out


def render(graph: StateGraph, trace: ExecutionTrace | None = None, element_id: str = "graph") -> str:
    """The graph as an `<svg>` element; with a trace, the execution's path and marks on it."""
    sizes = {node_id: _size(node) for node_id, node in graph.nodes.items()}
    placed: Layout = layout(
        sizes,
        [(edge.source, edge.target) for edge in graph.edges],
        first=START,
        # Error paths converge on one failure state from everywhere: let the main flow shape the
        # drawing, and route the catches around it.
        weights=[CATCH_WEIGHT if edge.kind == "catch" else 1.0 for edge in graph.edges],
    )
    parts = [
        f'<svg id="{escape(element_id)}" class="state-graph" xmlns="http://www.w3.org/2000/svg" '
        f'width="{placed.width:.0f}" height="{placed.height:.0f}" '
        f'viewBox="0 0 {placed.width:.0f} {placed.height:.0f}" role="img">',
        "<defs>",
    ]
    for marker in ("arrow", "arrow-taken", "arrow-caught"):
        parts.append(
            f'<marker id="{escape(element_id)}-{marker}" class="{marker}" viewBox="0 0 10 10" '
            'refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            '<path d="M0,0 L10,5 L0,10 z"/></marker>'
        )
    parts.append("</defs>")
    # Edges first, so nodes sit on top of them; taken edges last among edges, so they stay visible.
    drawn = []
    for index, edge in enumerate(graph.edges):
        taken = trace.edge_taken(edge) if trace is not None else 0
        drawn.append((1 if taken else 0, index, edge, taken))
    for _, index, edge, taken in sorted(drawn, key=lambda item: (item[0], item[1])):
        upwards = index in placed.reversed_edges
        parts.extend(
            _draw_edge(
                edge, placed.routes[index], _edge_classes(edge, taken, upwards), taken, upwards, element_id
            )
        )
    for node_id, node in graph.nodes.items():
        box = placed.boxes[node_id]
        run = trace.runs.get(node_id) if trace is not None else None
        parts.extend(
            _draw_node(
                node,
                box.x,
                box.y,
                box.width,
                box.height,
                _node_classes(node, run, trace),
                _node_title(node, run),
                _badges(run),
            )
        )
    parts.append("</svg>")
    return "\n".join(parts)
