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

    def visit(node: Mapping[str, Any], depth: int) -> None:
        out.append((node, depth, len(out)))
        for child in by_parent.get(int(node["iteration"]), []):
            visit(child, depth + 1)

    for root in by_parent.get(None, []):
        visit(root, 0)
    return out


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def tree_svg(nodes: Sequence[Mapping[str, Any]]) -> str:
    """`nodes`: {"iteration", "parent" (None for I_0), "val", "test", "failed", "adopted"} each. A failed step (its
    improver did not run, or was not adopted) is drawn hollow and grey; the adopted path bold."""
    rows = tree_rows(nodes)
    depth = max((d for _, d, _ in rows), default=0)
    width, height = LEFT + depth * DX + RIGHT + 2 * RADIUS, TOP + max(len(rows) - 1, 0) * DY + BOTTOM + 2 * RADIUS
    where = {int(n["iteration"]): (LEFT + RADIUS + d * DX, TOP + RADIUS + r * DY) for n, d, r in rows}
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
        cls = "edge adopted" if node.get("adopted") and _adopted(nodes, int(parent)) else "edge"
        out.append(f'<path class="{cls}" data-from="{int(parent)}" data-to="{int(node["iteration"])}" '
                   f'd="M{x0:.1f},{y0:.1f} V{y1:.1f} H{x1:.1f}"/>')
    for node, _, _ in rows:
        t = int(node["iteration"])
        x, y = where[t]
        cls = "node" + (" adopted" if node.get("adopted") else "") + (" failed" if node.get("failed") else "")
        parent = "" if node.get("parent") is None else str(int(node["parent"]))
        title = (f"I_{t}" + (f", made from I_{parent}" if parent else " (the seed improver)")
                 + f": val {_num(node.get('val'))}, test {_num(node.get('test'))}"
                 + (" (failed: not added)" if node.get("failed") else "")
                 + (" (on the adopted path)" if node.get("adopted") else ""))
        out.append(f'<g class="{cls}" data-iteration="{t}" data-parent="{parent}" data-val="{_num(node.get("val"))}" '
                   f'data-test="{_num(node.get("test"))}"><title>{escape(title)}</title>'
                   f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS}"/>'
                   f'<text class="label" x="{x + RADIUS + 4:.1f}" y="{y - 2:.1f}">I_{t}</text>'
                   f'<text class="score" x="{x + RADIUS + 4:.1f}" y="{y + 12:.1f}">val {_num(node.get("val"))} '
                   f'test {_num(node.get("test"))}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def _adopted(nodes: Sequence[Mapping[str, Any]], iteration: int) -> bool:
    return any(int(n["iteration"]) == iteration and n.get("adopted") for n in nodes)


def lineage_nodes(records: Sequence[Mapping[str, Any]], final: int | None = None) -> list[dict[str, Any]]:
    """The tree's nodes from a run's iteration records: each step's parent (recorded, or the step before it for runs
    that kept none: linear STOP), whether it failed, and the adopted path: from the run's final improver (`final`,
    default the last step that was not kept back) up its parents to I_0."""
    nodes: list[dict[str, Any]] = []
    for r in records:
        t = int(r["iteration"])
        recorded = r.get("parent")
        parent = None if t == 0 else (int(recorded) if recorded is not None else _linear_parent(records, t))
        nodes.append({"iteration": t, "parent": parent, "val": r.get("meta_utility_val"),
                      "test": r.get("meta_utility_test"), "failed": bool(r.get("kept_previous")), "adopted": False})
    alive = [n for n in nodes if not n["failed"]]
    end = final if final is not None else (alive[-1]["iteration"] if alive else None)
    by_index = {n["iteration"]: n for n in nodes}
    while end is not None and end in by_index and not by_index[end]["adopted"]:
        by_index[end]["adopted"] = True
        end = by_index[end]["parent"]
    return nodes


def _linear_parent(records: Sequence[Mapping[str, Any]], t: int) -> int:
    """In linear STOP, I_t was made from the last improver adopted before it (a kept-back step adopted nothing)."""
    adopted = [int(r["iteration"]) for r in records if int(r["iteration"]) < t and not r.get("kept_previous")]
    return adopted[-1] if adopted else 0
