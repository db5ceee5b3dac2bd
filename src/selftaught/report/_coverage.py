"""Whether a figure's interval covers the paper's published number: covered, not covered, or not comparable (why)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from selftaught.report._paper import PaperNumber

COVERED, NOT_COVERED, NOT_COMPARABLE = "covered", "not covered", "not comparable"


@dataclass(frozen=True)
class Estimate:
    """Our figure, as a fraction in [0, 1]: its mean and its interval (None when there is none, and `why`)."""

    mean: float
    low: float | None = None
    high: float | None = None
    why_no_interval: str = "no interval"


@dataclass(frozen=True)
class Comparison:
    """The verdict, why (for `not comparable`, and the ranges compared otherwise), and the paper's caveat."""

    verdict: str
    reason: str
    caveat: str | None = None

    def record(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reason": self.reason, "caveat": self.caveat}


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def paper_range(paper: PaperNumber) -> tuple[float, float] | None:
    """The range the paper's number stands for, as fractions: [value - tolerance, value + tolerance], or a bound's
    side ([0, upper], [lower, 1], [lower, upper]); None when it gives neither."""
    if paper.value is not None:
        return (paper.value - paper.tolerance) / 100, (paper.value + paper.tolerance) / 100
    if paper.upper is None and paper.lower is None:
        return None
    return (paper.lower or 0.0) / 100, (paper.upper if paper.upper is not None else 100.0) / 100


def compare(ours: Estimate | None, paper: PaperNumber) -> Comparison:
    """Covered when our interval [low, high] meets the paper's range (see `paper_range`): the paper's number, give or
    take its rounding or read-off uncertainty, is a value our interval does not exclude. A bound is met when the
    interval reaches into its side (`< 1%`: low < 1%). Not comparable when the paper's number is known not to
    measure what ours does, when we have no figure (not run) or no interval, or when the paper gives no number."""
    if paper.not_comparable:
        return Comparison(NOT_COMPARABLE, paper.not_comparable, paper.caveat)
    if ours is None or not _finite(ours.mean):
        return Comparison(NOT_COMPARABLE, "not run", paper.caveat)
    if not (_finite(ours.low) and _finite(ours.high)):
        return Comparison(NOT_COMPARABLE, ours.why_no_interval, paper.caveat)
    span = paper_range(paper)
    if span is None:
        return Comparison(NOT_COMPARABLE, "the paper gives no number", paper.caveat)
    low, high = float(ours.low or 0.0), float(ours.high or 0.0)
    lo, hi = span
    if paper.value is None and paper.upper is not None and paper.lower is None:
        met = low < hi  # a strict upper bound: some value of the interval lies below it
    elif paper.value is None and paper.lower is not None and paper.upper is None:
        met = high > lo
    else:
        met = low <= hi and high >= lo
    places = 3 if paper.tolerance < 0.05 else 2
    ranges = f"interval {low:.{places}%} to {high:.{places}%}, paper {_range_text(paper, lo, hi, places)}"
    return Comparison(COVERED if met else NOT_COVERED, ranges, paper.caveat)


def _range_text(paper: PaperNumber, lo: float, hi: float, places: int) -> str:
    if paper.value is None:
        return paper.text()
    if paper.tolerance == 0:
        return f"{paper.value:g}%"
    return f"{paper.value:g}% ± {paper.tolerance:g} ({lo:.{places}%} to {hi:.{places}%})"
