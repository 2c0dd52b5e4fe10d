"""A layered (Sugiyama-style) layout of a directed graph, top to bottom. Pure geometry, no I/O.

The steps are the textbook ones, kept small for graphs of a few dozen states:
1. a depth-first search from the first node finds the edges that close loops, which are laid out
   reversed, so the rest is acyclic;
2. each node's layer is its longest path from the top;
3. an edge that spans several layers gets a point in each layer between, so it is routed around
   the nodes rather than through them;
4. the order within each layer comes from barycentre sweeps, keeping the order with the fewest
   crossings;
5. x positions pull every node towards its neighbours (a least-squares fit under the minimum
   spacing, solved exactly by pool-adjacent-violators), alternating downwards and upwards.

Edges leave a node at its bottom and enter at its top, spread along the side in the order of the
nodes they go to, so parallel edges (a Next and a Catch to the same state) stay apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

H_GAP = 36  # between neighbouring nodes of a layer
DUMMY_WIDTH = 14  # the room a routed edge takes in a layer it passes through
V_GAP = 52  # between layers: room for the edges' labels
MARGIN = 20
ORDER_SWEEPS = 12
POSITION_SWEEPS = 16


@dataclass(frozen=True)
class Box:
    x: float  # left
    y: float  # top
    width: float
    height: float

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass
class Layout:
    boxes: dict[str, Box]
    routes: list[list[tuple[float, float]]]  # one per input edge, in order; [] for a self-loop
    reversed_edges: set[int] = field(default_factory=set)  # edges that close a loop (drawn upwards)
    width: float = 0.0
    height: float = 0.0


@dataclass
class _Vertex:
    id: str
    width: float
    height: float
    dummy: bool = False
    layer: int = 0
    x: float = 0.0  # centre


_Weighted = dict[str, list[tuple[str, float]]]


def _loop_edges(order: Sequence[str], edges: Sequence[tuple[str, str]]) -> set[int]:
    """The edges a depth-first search finds going back to a node on its stack."""
    outgoing: dict[str, list[tuple[int, str]]] = {node: [] for node in order}
    for index, (source, target) in enumerate(edges):
        outgoing[source].append((index, target))
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[int] = set()
    for root in order:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(outgoing[root]))]
        while stack:
            node, children = stack[-1]
            for index, child in children:
                if child == node:
                    continue  # a self-loop is drawn apart
                if state.get(child) == 1:
                    back.add(index)
                elif child not in state:
                    state[child] = 1
                    stack.append((child, iter(outgoing[child])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return back


def _layers(order: Sequence[str], dag: Sequence[tuple[str, str]]) -> dict[str, int]:
    incoming: dict[str, int] = dict.fromkeys(order, 0)
    outgoing: dict[str, list[str]] = {node: [] for node in order}
    for source, target in dag:
        outgoing[source].append(target)
        incoming[target] += 1
    layer = dict.fromkeys(order, 0)
    ready = [node for node in order if incoming[node] == 0]
    while ready:
        node = ready.pop(0)
        for target in outgoing[node]:
            layer[target] = max(layer[target], layer[node] + 1)
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    return layer


def _crossings(upper: list[str], lower: list[str], links: dict[tuple[str, str], float]) -> int:
    up = {node: index for index, node in enumerate(upper)}
    low = {node: index for index, node in enumerate(lower)}
    pairs = sorted((up[a], low[b]) for a, b in links if a in up and b in low)
    return sum(1 for i, (a1, b1) in enumerate(pairs) for a2, b2 in pairs[i + 1 :] if a2 > a1 and b2 < b1)


def _neighbours(links: dict[tuple[str, str], float]) -> tuple[_Weighted, _Weighted]:
    """Each vertex's neighbours in the layer above and in the layer below, with the links' weights."""
    above: _Weighted = {}
    below: _Weighted = {}
    for (source, target), weight in links.items():
        below.setdefault(source, []).append((target, weight))
        above.setdefault(target, []).append((source, weight))
    return above, below


def _mean(values: list[tuple[float, float]], default: float) -> float:
    total = sum(weight for _, weight in values)
    return sum(value * weight for value, weight in values) / total if total else default


def _order(rows: list[list[str]], links: dict[tuple[str, str], float]) -> list[list[str]]:
    above, below = _neighbours(links)

    def total(candidate: list[list[str]]) -> int:
        return sum(_crossings(candidate[i], candidate[i + 1], links) for i in range(len(candidate) - 1))

    def sweep(candidate: list[list[str]], indices: range, neighbours: _Weighted, step: int) -> None:
        for i in indices:
            fixed = {node: position for position, node in enumerate(candidate[i - step])}
            current = {node: position for position, node in enumerate(candidate[i])}

            def barycentre(
                node: str, fixed: dict[str, int] = fixed, current: dict[str, int] = current
            ) -> float:
                places = [
                    (float(fixed[other]), weight)
                    for other, weight in neighbours.get(node, [])
                    if other in fixed
                ]
                return _mean(places, float(current[node]))

            candidate[i] = sorted(candidate[i], key=barycentre)

    best = [list(row) for row in rows]
    best_count = total(best)
    candidate = [list(row) for row in rows]
    for _ in range(ORDER_SWEEPS):
        sweep(candidate, range(1, len(candidate)), above, 1)
        sweep(candidate, range(len(candidate) - 2, -1, -1), below, -1)
        count = total(candidate)
        if count < best_count:
            best, best_count = [list(row) for row in candidate], count
        if best_count == 0:
            break
    return best


def _fit(desired: list[float], gaps: list[float], weights: list[float]) -> list[float]:
    """Positions closest to `desired` (weighted least squares) with x[i+1] - x[i] >= gaps[i].

    With offsets o[i] = sum(gaps[:i]) the constraint is y[i] = x[i] - o[i] non-decreasing, which
    pool-adjacent-violators solves exactly.
    """
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    blocks: list[list[float]] = []  # [weighted mean, weight, count]
    for value, offset, weight in zip(desired, offsets, weights, strict=True):
        blocks.append([value - offset, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, weight2, count2 = blocks.pop()
            mean1, weight1, count1 = blocks.pop()
            combined = weight1 + weight2
            blocks.append([(mean1 * weight1 + mean2 * weight2) / combined, combined, count1 + count2])
    fitted: list[float] = []
    for mean, _, count in blocks:
        fitted.extend([mean] * int(count))
    return [y + offset for y, offset in zip(fitted, offsets, strict=True)]


def layout(
    sizes: dict[str, tuple[float, float]],
    edges: Sequence[tuple[str, str]],
    first: str | None = None,
    weights: Sequence[float] | None = None,
) -> Layout:
    """Lays out nodes of the given (width, height) joined by `edges`; `first` goes on top.

    An edge's weight (1 unless given) is how strongly it pulls its ends together: a light edge
    (an error path, say) is routed around what the heavy ones lay out.
    """
    order = list(sizes)
    if first in sizes:
        order.remove(first)
        order.insert(0, first)
    back = _loop_edges(order, edges)
    dag = [
        (target, source) if index in back else (source, target)
        for index, (source, target) in enumerate(edges)
        if source != target
    ]
    layer_of = _layers(order, dag)
    vertices = {node: _Vertex(node, *sizes[node], layer=layer_of[node]) for node in order}
    chains = _chains(edges, back, vertices)
    links: dict[tuple[str, str], float] = {}
    for index, chain in chains.items():
        for link in pairwise(chain):
            links[link] = links.get(link, 0.0) + (weights[index] if weights else 1.0)

    depth = max((vertex.layer for vertex in vertices.values()), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(depth)]
    for vertex_id, vertex in vertices.items():  # insertion order: definition order, then dummies
        rows[vertex.layer].append(vertex_id)
    rows = _order(rows, links)
    _place(rows, links, vertices)

    shift = MARGIN - min((vertex.x - vertex.width / 2 for vertex in vertices.values()), default=0.0)
    heights = [max((vertices[vertex_id].height for vertex_id in row), default=0.0) for row in rows]
    tops = [MARGIN + sum(heights[:index]) + V_GAP * index for index in range(depth)]
    boxes: dict[str, Box] = {}
    for vertex_id, vertex in vertices.items():
        if not vertex.dummy:
            # Centred vertically in its layer, so edges between layers of mixed heights stay even.
            boxes[vertex_id] = Box(
                vertex.x + shift - vertex.width / 2,
                tops[vertex.layer] + (heights[vertex.layer] - vertex.height) / 2,
                vertex.width,
                vertex.height,
            )
    routes = _routes(edges, back, chains, vertices, boxes, tops, heights, shift)
    width = max(
        [box.x + box.width for box in boxes.values()] + [x for route in routes for x, _ in route],
        default=0.0,
    )
    height = (tops[-1] + heights[-1]) if depth else 0.0
    return Layout(boxes, routes, back, width + MARGIN, height + MARGIN)


def _chains(
    edges: Sequence[tuple[str, str]], back: set[int], vertices: dict[str, _Vertex]
) -> dict[int, list[str]]:
    """Edge index -> the vertices it passes, top to bottom, with a dummy vertex in each layer between."""
    chains: dict[int, list[str]] = {}
    for index, (source, target) in enumerate(edges):
        if source == target:
            continue
        upper, lower = (target, source) if index in back else (source, target)
        chain = [upper]
        for step in range(vertices[upper].layer + 1, vertices[lower].layer):
            dummy = f"\x00{index}:{step}"
            vertices[dummy] = _Vertex(dummy, DUMMY_WIDTH, 0, dummy=True, layer=step)
            chain.append(dummy)
        chain.append(lower)
        chains[index] = chain
    return chains


def _place(rows: list[list[str]], links: dict[tuple[str, str], float], vertices: dict[str, _Vertex]) -> None:
    """Sets each vertex's x: packed in order, then pulled towards its neighbours, layer by layer."""
    above, below = _neighbours(links)

    def spacing(row: list[str]) -> list[float]:
        return [
            (vertices[a].width + vertices[b].width) / 2 + (H_GAP if not vertices[a].dummy else H_GAP / 2)
            for a, b in pairwise(row)
        ]

    for row in rows:
        x = 0.0
        for vertex_id, gap in zip(row, [0.0, *spacing(row)], strict=True):
            x += gap
            vertices[vertex_id].x = x
    depth = len(rows)
    for sweep in range(POSITION_SWEEPS):
        neighbours, indices = (
            (above, range(1, depth)) if sweep % 2 == 0 else (below, range(depth - 2, -1, -1))
        )
        for i in indices:
            row = rows[i]
            desired = []
            for vertex_id in row:
                others = [(vertices[other].x, weight) for other, weight in neighbours.get(vertex_id, [])]
                desired.append(_mean(others, vertices[vertex_id].x))
            # Routed edges weigh more, so long edges run straight.
            stiffness = [4.0 if vertices[vertex_id].dummy else 1.0 for vertex_id in row]
            for vertex_id, x in zip(row, _fit(desired, spacing(row), stiffness), strict=True):
                vertices[vertex_id].x = x


def _routes(
    edges: Sequence[tuple[str, str]],
    back: set[int],
    chains: dict[int, list[str]],
    vertices: dict[str, _Vertex],
    boxes: dict[str, Box],
    tops: list[float],
    heights: list[float],
    shift: float,
) -> list[list[tuple[float, float]]]:
    # Each edge leaves the bottom of its upper vertex and enters the top of its lower one; ports
    # are spread along each side in the order of where the edges go, so they do not cross there.
    bottom_ports: dict[str, list[tuple[float, int]]] = {}
    top_ports: dict[str, list[tuple[float, int]]] = {}
    for index, chain in chains.items():
        bottom_ports.setdefault(chain[0], []).append((vertices[chain[1]].x, index))
        top_ports.setdefault(chain[-1], []).append((vertices[chain[-2]].x, index))

    def port_x(ports: dict[str, list[tuple[float, int]]], node: str, index: int) -> float:
        box = boxes[node]
        ordered = [edge for _, edge in sorted(ports[node])]
        count = len(ordered)
        if count == 1:
            return box.cx
        span = box.width * 0.6
        return box.x + (box.width - span) / 2 + span * ordered.index(index) / (count - 1)

    routes: list[list[tuple[float, float]]] = []
    for index in range(len(edges)):
        if index not in chains:
            routes.append([])
            continue
        chain = chains[index]
        upper, lower = chain[0], chain[-1]
        points = [(port_x(bottom_ports, upper, index), boxes[upper].bottom)]
        for dummy in chain[1:-1]:
            vertex = vertices[dummy]
            # A routed edge passes a layer vertically, from its top to its bottom.
            points.append((vertex.x + shift, tops[vertex.layer]))
            points.append((vertex.x + shift, tops[vertex.layer] + heights[vertex.layer]))
        points.append((port_x(top_ports, lower, index), boxes[lower].y))
        routes.append(points[::-1] if index in back else points)
    return routes
