"""The meta-utility plot as inline SVG: a point per I_t and split, its 95% interval bar, the selection score."""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 24, 48
COLORS = {"val": "#1f6fb4", "test": "#c8402a"}
OFFSET = {"val": -7.0, "test": 7.0}  # the two splits side by side at each iteration


def _diamond(cx: float, cy: float) -> str:
    return f"M{cx:.2f},{cy - 5:.2f} L{cx + 5:.2f},{cy:.2f} L{cx:.2f},{cy + 5:.2f} L{cx - 5:.2f},{cy:.2f} Z"


def padded_range(values: list[float]) -> tuple[float, float]:
    """The y range of a plot of `values` (finite ones), with a margin; (0, 1) for none."""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    pad = max((high - low) * 0.1, 0.02)
    return low - pad, high + pad


Scale = Callable[[float], float]


def frame(css_class: str, title: str, size: tuple[int, int], margins: tuple[int, int, int, int], columns: int,
          y_range: tuple[float, float], tick: Callable[[float], str],
          x_ticks: list[tuple[float, str]]) -> tuple[list[str], Scale, Scale]:
    """An SVG document's opening, plot area, y grid with its ticks, the x ticks (column, label) and both axis titles
    (iteration, meta-utility); and its x (column) and y (value) scales.

    `margins` are (left, right, top, bottom); column i is centred at x(i)."""
    (width, height), (left, right, top, bottom), (low, high) = size, margins, y_range
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(columns, 1)

    def x(i: float) -> float:
        return left + plot_w * (i + 0.5) / n

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" font-family="sans-serif" '
           'font-size="11">', f"<title>{escape(title)}</title>",
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#999"/>']
    for k in range(6):
        v = low + (high - low) * k / 5
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(v):.2f}" y2="{y(v):.2f}" '
                   'stroke="#e2e2e2"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{y(v) + 4:.2f}" text-anchor="end">{tick(v)}</text>')
    for column, label in x_ticks:
        out.append(f'<text class="tick" x="{x(column):.2f}" y="{top + plot_h + 16}" text-anchor="middle">'
                   f'{escape(label)}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">iteration</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + plot_h / 2})">meta-utility</text>')
    return out, x, y


def _range(figures: list[dict[str, Any]]) -> tuple[float, float]:
    values: list[float] = []
    for f in figures:
        for split in ("val", "test"):
            values += [v for v in (f[split]["low"], f[split]["high"], f[split]["mean"]) if isinstance(v, int | float)]
        if isinstance(f.get("selection_score"), int | float):
            values.append(float(f["selection_score"]))
    return padded_range(values)


def plot_svg(figures: list[dict[str, Any]], *, title: str = "meta-utility of I_t") -> str:
    """An SVG document (no script, no external reference). Marks carry `data-*` attributes naming what they show."""
    out, x, y = frame("plot", title, (WIDTH, HEIGHT), (LEFT, RIGHT, TOP, BOTTOM), len(figures), _range(figures),
                      lambda v: f"{v:.3f}", [(i, f"I_{int(f['iteration'])}") for i, f in enumerate(figures)])
    plot_w = WIDTH - LEFT - RIGHT
    for split, color in COLORS.items():
        points = [(x(i) + OFFSET[split], y(f[split]["mean"])) for i, f in enumerate(figures)
                  if isinstance(f[split]["mean"], int | float)]
        if len(points) > 1:
            d = " ".join(f"{'M' if j == 0 else 'L'}{px:.2f},{py:.2f}" for j, (px, py) in enumerate(points))
            out.append(f'<path class="series {split}" d="{d}" fill="none" stroke="{color}" stroke-opacity="0.5"/>')
        for i, f in enumerate(figures):
            out.extend(_marks(f, split, color, x(i) + OFFSET[split], y))
    for i, f in enumerate(figures):
        s = f.get("selection_score")
        if isinstance(s, int | float):
            cx, cy = x(i) + OFFSET["val"] - 14, y(float(s))
            out.append(f'<path class="selection" data-iteration="{int(f["iteration"])}" data-value="{s:.6f}" '
                       f'd="{_diamond(cx, cy)}" '
                       f'fill="none" stroke="#555"><title>I_{int(f["iteration"])} selection score (val, biased '
                       f'upward) {s:.4f}</title></path>')
    out.extend(_legend(LEFT + plot_w + 14, TOP + 8))
    out.append("</svg>")
    return "\n".join(out)


def _marks(f: dict[str, Any], split: str, color: str, cx: float, y: Any) -> list[str]:
    fig = f[split]
    mean, lo, hi = fig["mean"], fig["low"], fig["high"]
    if not isinstance(mean, int | float):
        return []
    t = int(f["iteration"])
    data = f'data-iteration="{t}" data-split="{split}"'
    out = []
    if isinstance(lo, int | float) and isinstance(hi, int | float):
        out.append(f'<line class="ci {split}" {data} data-low="{lo:.6f}" data-high="{hi:.6f}" x1="{cx:.2f}" '
                   f'x2="{cx:.2f}" y1="{y(lo):.2f}" y2="{y(hi):.2f}" stroke="{color}" stroke-width="1.5"/>')
        for v in (lo, hi):
            out.append(f'<line class="cap {split}" {data} x1="{cx - 4:.2f}" x2="{cx + 4:.2f}" y1="{y(v):.2f}" '
                       f'y2="{y(v):.2f}" stroke="{color}" stroke-width="1.5"/>')
    label = f"I_{t} {split}: {mean:.4f}" + (f" (95% CI {lo:.4f} to {hi:.4f})" if isinstance(lo, int | float) else "")
    out.append(f'<circle class="mark {split}" {data} data-value="{mean:.6f}" cx="{cx:.2f}" cy="{y(mean):.2f}" r="4.5" '
               f'fill="{color}"><title>{escape(label)}</title></circle>')
    return out


def _legend(x0: float, y0: float) -> list[str]:
    out = []
    for k, (split, color) in enumerate(COLORS.items()):
        yy = y0 + 18 * k
        out.append(f'<circle cx="{x0 + 5}" cy="{yy}" r="4.5" fill="{color}"/>')
        out.append(f'<text x="{x0 + 16}" y="{yy + 4}">{split} (95% CI)</text>')
    yy = y0 + 36
    out.append(f'<path d="{_diamond(x0 + 5, yy)}" fill="none" stroke="#555"/>')
    out.append(f'<text x="{x0 + 16}" y="{yy + 4}">selection score</text>')
    out.append(f'<text x="{x0 + 16}" y="{yy + 18}" fill="#777">(val, biased up)</text>')
    return out
