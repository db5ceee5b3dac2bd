"""A figure known as low / expected / high."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """low <= expected <= high, e.g. the LM calls of a run: what the seed improver's code fixes, what is expected,
    and what the budgets (which are caps) allow."""

    low: float
    expected: float
    high: float

    @classmethod
    def of(cls, value: float) -> Range:
        """A figure known exactly."""
        return cls(value, value, value)

    def __add__(self, other: Range) -> Range:
        return Range(self.low + other.low, self.expected + other.expected, self.high + other.high)

    def __mul__(self, other: Range | float) -> Range:
        """Bound by bound (both non-negative): runs x calls per run."""
        if isinstance(other, Range):
            return Range(self.low * other.low, self.expected * other.expected, self.high * other.high)
        return Range(self.low * other, self.expected * other, self.high * other)

    def widest(self, other: Range) -> Range:
        """The larger of two figures bound by bound (things that run at once take as long as the longest)."""
        return Range(max(self.low, other.low), max(self.expected, other.expected), max(self.high, other.high))

    def ints(self) -> Range:
        return Range(math.ceil(self.low), math.ceil(self.expected), math.ceil(self.high))

    def record(self, digits: int | None = None) -> dict[str, float]:
        """{low, expected, high}: integers (counts), or rounded to `digits` (dollars, seconds)."""
        values = (self.low, self.expected, self.high)
        kept = [int(v) if digits is None else round(v, digits) for v in values]
        return dict(zip(("low", "expected", "high"), kept, strict=True))


ZERO = Range.of(0)
