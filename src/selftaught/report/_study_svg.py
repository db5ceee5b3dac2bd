"""The study's mean meta-utility curve as inline SVG: val and test means over seeds, their bands, the paper's points."""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from typing import Any

from selftaught.report._svg import frame, padded_range

WIDTH, HEIGHT = 680, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 24, 48
COLORS = {"val": "#1f6fb4", "test": "#c8402a"}
PAPER_COLOR = "#222"
PAPER_OFFSET = 12.0  # the paper's point beside ours at each iteration


def _values(rows: list[dict[str, Any]]) -> list[float]:
    out: list[float] = []
    for row in rows:
        for split in COLORS:
            fig = row.get(split) or {}
            out += [v for v in (fig.get("mean"), fig.get("low"), fig.get("high")) if isinstance(v, int | float)]
            paper = (row.get(f"{split}_paper") or {}).get("paper")
            if paper and isinstance(paper.get("value"), int | float):
                out += [(paper["value"] - paper["tolerance"]) / 100, (paper["value"] + paper["tolerance"]) / 100]
    return [v for v in out if math.isfinite(v)]


def _range(rows: list[dict[str, Any]]) -> tuple[float, float]:
    return padded_range(_values(rows))


def _segments(points: list[tuple[int, Any]]) -> list[list[tuple[int, Any]]]:
    """Runs of consecutive iterations (a band or a line is not drawn across an iteration without a figure)."""
    out: list[list[tuple[int, Any]]] = []
    for t, value in points:
        if out and out[-1][-1][0] == t - 1:
            out[-1].append((t, value))
        else:
            out.append([(t, value)])
    return out


def curve_svg(rows: list[dict[str, Any]], *, title: str = "mean meta-utility of I_t over seeds") -> str:
    """An SVG document (no script, no external reference). Marks carry `data-*` attributes naming what they show:
    `circle.mark` our mean per iteration and split, `path.band` the interval over seeds, `path.paper` the paper's
    point with `line.paper-range` its tolerance."""
    out, x, y = frame("curve", title, (WIDTH, HEIGHT), (LEFT, RIGHT, TOP, BOTTOM), len(rows), _range(rows),
                      lambda v: f"{100 * v:.1f}%", [(row["iteration"], f"I_{int(row['iteration'])}") for row in rows])
    plot_w = WIDTH - LEFT - RIGHT
    for split, color in COLORS.items():
        out += _series(rows, split, color, x, y)
    out += _paper_marks(rows, x, y)
    out += _legend(LEFT + plot_w + 14, TOP + 8)
    out.append("</svg>")
    return "\n".join(out)


def _series(rows: list[dict[str, Any]], split: str, color: str, x: Callable[[int], float],
            y: Callable[[float], float]) -> list[str]:
    figs = [(int(r["iteration"]), r[split]) for r in rows if r.get(split) and isinstance(r[split].get("mean"),
                                                                                         int | float)]
    out = []
    banded = [(t, f) for t, f in figs if isinstance(f.get("low"), int | float) and isinstance(f.get("high"),
                                                                                              int | float)]
    for seg in _segments(banded):
        upper = [f"{x(t):.2f},{y(f['high']):.2f}" for t, f in seg]
        lower = [f"{x(t):.2f},{y(f['low']):.2f}" for t, f in reversed(seg)]
        if len(seg) == 1:  # one iteration: a thin bar rather than a polygon of no width
            t, f = seg[0]
            upper = [f"{x(t) - 3:.2f},{y(f['high']):.2f}", f"{x(t) + 3:.2f},{y(f['high']):.2f}"]
            lower = [f"{x(t) + 3:.2f},{y(f['low']):.2f}", f"{x(t) - 3:.2f},{y(f['low']):.2f}"]
        out.append(f'<path class="band {split}" data-split="{split}" data-from="{seg[0][0]}" data-to="{seg[-1][0]}" '
                   f'd="M{" L".join(upper + lower)} Z" fill="{color}" fill-opacity="0.15" stroke="none"/>')
    for seg in _segments(figs):
        if len(seg) > 1:
            d = " ".join(f"{'M' if j == 0 else 'L'}{x(t):.2f},{y(f['mean']):.2f}" for j, (t, f) in enumerate(seg))
            out.append(f'<path class="series {split}" d="{d}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    for t, f in figs:
        label = f"I_{t} {split}: {100 * f['mean']:.1f}% over {f.get('n')} seeds"
        if isinstance(f.get("low"), int | float) and isinstance(f.get("high"), int | float):
            label += f" (95% interval {100 * f['low']:.1f}% to {100 * f['high']:.1f}%)"
        out.append(f'<circle class="mark {split}" data-iteration="{t}" data-split="{split}" '
                   f'data-value="{f["mean"]:.6f}" data-seeds="{f.get("n")}" cx="{x(t):.2f}" cy="{y(f["mean"]):.2f}" '
                   f'r="4" fill="{color}"><title>{escape(label)}</title></circle>')
    return out


def _diamond(cx: float, cy: float) -> str:
    return f"M{cx:.2f},{cy - 5:.2f} L{cx + 5:.2f},{cy:.2f} L{cx:.2f},{cy + 5:.2f} L{cx - 5:.2f},{cy:.2f} Z"


def _paper_marks(rows: list[dict[str, Any]], x: Callable[[int], float], y: Callable[[float], float]) -> list[str]:
    out = []
    for row in rows:
        for split in COLORS:
            verdict = row.get(f"{split}_paper") or {}
            paper = verdict.get("paper")
            if not paper or not isinstance(paper.get("value"), int | float):
                continue
            t, value, tol = int(row["iteration"]), paper["value"] / 100, paper["tolerance"] / 100
            cx = x(t) + PAPER_OFFSET
            outcome = (verdict.get("comparison") or {}).get("verdict", "none")
            data = f'data-iteration="{t}" data-split="{split}" data-value="{value:.6f}"'
            if tol > 0:
                out.append(f'<line class="paper-range" {data} x1="{cx:.2f}" x2="{cx:.2f}" y1="{y(value - tol):.2f}" '
                           f'y2="{y(value + tol):.2f}" stroke="{PAPER_COLOR}" stroke-width="1" '
                           'stroke-dasharray="2,2"/>')
            label = f"paper, I_{t} {split}: {paper['text']}; {outcome}"
            out.append(f'<path class="paper" {data} data-verdict="{escape(outcome)}" d="{_diamond(cx, y(value))}" '
                       f'fill="#fff" stroke="{PAPER_COLOR}" stroke-width="1.5"><title>{escape(label)}</title></path>')
    return out


def _legend(x0: float, y0: float) -> list[str]:
    out = []
    for k, (split, color) in enumerate(COLORS.items()):
        yy = y0 + 18 * k
        out.append(f'<rect x="{x0}" y="{yy - 6}" width="10" height="12" fill="{color}" fill-opacity="0.15"/>')
        out.append(f'<circle cx="{x0 + 5}" cy="{yy}" r="4" fill="{color}"/>')
        out.append(f'<text x="{x0 + 16}" y="{yy + 4}">{split}: mean over seeds</text>')
    yy = y0 + 36
    out.append(f'<path d="{_diamond(x0 + 5, yy)}" fill="#fff" stroke="{PAPER_COLOR}" stroke-width="1.5"/>')
    out.append(f'<text x="{x0 + 16}" y="{yy + 4}">paper (GPT-4, test)</text>')
    out.append(f'<text x="{x0 + 16}" y="{yy + 18}" fill="#777">bands: 95% over seeds</text>')
    return out
