"""The improvers' lineage tree as inline SVG: a node per I_t (its fresh val and test meta-utility), an edge to the
improver it was made from, and the adopted path (I_0 to the improver the run ends with) drawn bold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

DX, DY = 150, 46  # a generation's width, a row's height
LEFT, TOP, RIGHT, BOTTOM = 24, 24, 150, 16
RADIUS = 7


def tree_rows(nodes: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], int, int]]:
    """Each node with its generation (I_0 is 0) and row, in depth-first order (children by iteration): a node's
    descendants sit in the rows below it, before its next sibling."""
    by_parent: dict[int | None, list[Mapping[str, Any]]] = {}
    known = {int(n["iteration"]) for n in nodes}
    for node in sorted(nodes, key=lambda n: int(n["iteration"])):
        parent = node.get("parent")
        by_parent.setdefault(int(parent) if parent is not None and int(parent) in known else None, []).append(node)
    out: list[tuple[Mapping[str, Any], int, int]] = []
    todo = [(root, 0) for root in reversed(by_parent.get(None, []))]  # a stack: a run may be thousands of steps deep
    while todo:
        node, depth = todo.pop()
        out.append((node, depth, len(out)))
        todo.extend((child, depth + 1) for child in reversed(by_parent.get(int(node["iteration"]), [])))
    return out


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def tree_svg(nodes: Sequence[Mapping[str, Any]]) -> str:
    """`nodes`: {"iteration", "parent" (None for I_0), "val", "test", "failed", "why", "adopted"} each. A failed step
    (its improver did not run, or was not adopted: `why`) is drawn hollow and grey, without scores of its own (its
    record repeats its parent's); the adopted path bold."""
    rows = tree_rows(nodes)
    depth = max((d for _, d, _ in rows), default=0)
    width, height = LEFT + depth * DX + RIGHT + 2 * RADIUS, TOP + max(len(rows) - 1, 0) * DY + BOTTOM + 2 * RADIUS
    where = {int(n["iteration"]): (LEFT + RADIUS + d * DX, TOP + RADIUS + r * DY) for n, d, r in rows}
    adopted = {int(n["iteration"]) for n in nodes if n.get("adopted")}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage-tree" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage tree of the run\'s improvers">',
           "<style>.edge{stroke:#999;stroke-width:1.5;fill:none}.edge.adopted{stroke:#176f2c;stroke-width:3.5}"
           ".node circle{fill:#1f6fb4;stroke:#1f6fb4;stroke-width:2}.node.adopted circle{fill:#176f2c;"
           "stroke:#176f2c}.node.failed circle{fill:#fff;stroke:#aaa}.node text{font:12px sans-serif;fill:#222}"
           ".node.failed text{fill:#888}.node .score{font-size:11px;fill:#555}</style>"]
    for node, _, _ in rows:
        parent = node.get("parent")
        if parent is None or int(parent) not in where:
            continue
        (x0, y0), (x1, y1) = where[int(parent)], where[int(node["iteration"])]
        cls = "edge adopted" if node.get("adopted") and int(parent) in adopted else "edge"
        out.append(f'<path class="{cls}" data-from="{int(parent)}" data-to="{int(node["iteration"])}" '
                   f'd="M{x0:.1f},{y0:.1f} V{y1:.1f} H{x1:.1f}"/>')
    for node, _, _ in rows:
        t = int(node["iteration"])
        x, y = where[t]
        cls = "node" + (" adopted" if node.get("adopted") else "") + (" failed" if node.get("failed") else "")
        parent = "" if node.get("parent") is None else str(int(node["parent"]))
        failed = bool(node.get("failed"))
        scores = (f"failed: {node.get('why') or 'not adopted'}" if failed
                  else f"val {_num(node.get('val'))} test {_num(node.get('test'))}")
        title = (f"I_{t}" + (f", made from I_{parent}" if parent else " (the seed improver)") + f": {scores}"
                 + (" (on the adopted path)" if node.get("adopted") else ""))
        out.append(f'<g class="{cls}" data-iteration="{t}" data-parent="{parent}" data-val="{_num(node.get("val"))}" '
                   f'data-test="{_num(node.get("test"))}"><title>{escape(title)}</title>'
                   f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS}"/>'
                   f'<text class="label" x="{x + RADIUS + 4:.1f}" y="{y - 2:.1f}">I_{t}</text>'
                   f'<text class="score" x="{x + RADIUS + 4:.1f}" y="{y + 12:.1f}">{escape(scores)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)
