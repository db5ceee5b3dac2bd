"""The estimate as a table for people."""

from __future__ import annotations

from collections.abc import Callable

from selftaught.forecast._figures import Figures
from selftaught.forecast._range import Range
from selftaught.forecast._result import Estimate, PartEstimate

_ROWS = (("LM calls", "calls"), ("provider requests", "requests"), ("samples (replies)", "samples"),
         ("input tokens", "input_tokens"), ("output tokens", "output_tokens"))
_LABEL = 44
_CELL = 15


def _count(value: float) -> str:
    return f"{int(value):,}"


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.4f}" if value < 0.01 else f"${value:,.2f}"


def duration(seconds: float) -> str:
    """A duration for people: 45s, 12m 30s, 3h 20m, 2d 4h."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def _row(label: str, cells: tuple[str, str, str]) -> str:
    return f"  {label:<{_LABEL - 2}}" + "".join(f"{c:>{_CELL}}" for c in cells)


def _cells(value: Range, fmt: Callable[[float], str] = _count) -> tuple[str, str, str]:
    return fmt(value.low), fmt(value.expected), fmt(value.high)


def _block(title: str, figures: Figures, usd: Range | None, wall: Range, estimate: Estimate) -> list[str]:
    lines = [title, " " * _LABEL + "".join(f"{h:>{_CELL}}" for h in ("low", "expected", "high"))]
    lines += [_row(label, _cells(getattr(figures, name))) for label, name in _ROWS]
    lines.append(_row("dollars", _cells(usd, fmt=_usd)) if usd is not None else
                 _row("dollars", ("unknown", "unknown", "unknown")))
    lines.append(_row(f"wall-clock at {estimate.latency:g}s a request", _cells(wall, fmt=duration)))
    return lines


def _items(part: PartEstimate) -> list[str]:
    per = ", per repeat" if part.repeats > 1 else ""
    legend = f"by work (*: fixed by shipped code{per})"
    lines = [f"  {legend:<{_LABEL + 4}}{'LM calls':>{_CELL}}{'samples':>{_CELL + 6}}"]
    for item in part.items:
        c, s = item.figures.calls, item.figures.samples
        calls = _count(c.expected) if c.low == c.high else f"{_count(c.low)} .. {_count(c.high)}"
        samples = _count(s.expected) if s.low == s.high else f"{_count(s.low)} .. {_count(s.high)}"
        mark = "*" if item.fixed else " "
        lines.append(f"    {mark} {item.name:<{_LABEL}}{calls:>{_CELL}}{samples:>{_CELL + 6}}")
    return lines


def render(estimate: Estimate) -> str:
    """The estimate: a header (model, price, token counter), a block per part and one for the total, the
    assumptions."""
    lines = [f"estimate of `selftaught {estimate.command}` with {estimate.lm}: {estimate.price_note}",
             "no model was contacted; nothing was started",
             f"tokens counted with: {estimate.token_counter}",
             f"wall-clock: {estimate.latency:g}s a request, concurrency {estimate.concurrency}", ""]
    for part in estimate.parts:
        title = part.name + (f" (x{part.repeats})" if part.repeats > 1 else "")
        lines += _block(title, part.figures, part.usd, part.wall_seconds, estimate)
        lines += _items(part)
        lines += [f"  note: {note}" for note in part.notes]
        lines.append("")
    if len(estimate.parts) > 1:
        lines += _block("total", estimate.total, estimate.usd, estimate.wall_seconds, estimate)
        lines.append("")
    if estimate.max_usd is not None:
        lines.append(f"--max-usd {estimate.max_usd:g} caps it: it stops cleanly once that much is spent")
    lines.append("how the figures are made:")
    lines += [f"  - {line}" for line in estimate.assumptions]
    return "\n".join(lines)
