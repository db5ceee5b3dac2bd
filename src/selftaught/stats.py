"""Intervals and tests for reported figures: seeded bootstrap (flat and nested), Hoeffding, paired tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
EXACT_SIGN_FLIPS = 16  # up to this many pairs, the sign-flip test enumerates all 2^n sign patterns (exact p)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (`low`, `high`) at `level`, from `n` values."""

    mean: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    def record(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def bounds(interval: Interval | None) -> list[float] | None:
    """`[low, high]` as records write an interval (rounded), or None."""
    return None if interval is None else [round(interval.low, 6), round(interval.high, 6)]


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(values: Sequence[float], *, seed: int = 0, resamples: int = RESAMPLES,
                 level: float = LEVEL) -> Interval:
    """The mean of `values` with a percentile-bootstrap interval (seeded: the same values give the same interval)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, mean, mean, 1, level)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(resamples, data.size))
    low, high = _percentiles(data[picks].mean(axis=1), level)
    return Interval(mean, min(low, mean), max(high, mean), int(data.size), level)


def nested_bootstrap_ci(groups: Sequence[Sequence[float]], *, seed: int = 0, resamples: int = RESAMPLES,
                        level: float = LEVEL) -> Interval:
    """The mean over groups of each group's mean (a meta-utility: downstream runs, each a mean over instances),
    with an interval that resamples the groups and, within each, its values (both sources of chance)."""
    kept = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not kept:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    mean = float(np.mean([g.mean() for g in kept]))
    if len(kept) == 1 and kept[0].size == 1:
        return Interval(mean, mean, mean, 1, level)
    rng = np.random.default_rng(seed)
    # Each resample picks len(kept) groups with replacement; every pick (slot) gets its own resample of that
    # group's values. Drawn a group at a time over all the slots that picked it, not a slot at a time: the same
    # distribution, and 10 to 80 times less of the orchestrator's CPU (this runs under the GIL beside the seeds).
    picks = rng.integers(0, len(kept), size=(resamples, len(kept)))
    slot_means = np.empty((resamples, len(kept)))
    for index, values in enumerate(kept):
        chosen = picks == index
        count = int(chosen.sum())
        if count:
            slot_means[chosen] = values[rng.integers(0, values.size, size=(count, values.size))].mean(axis=1)
    low, high = _percentiles(slot_means.mean(axis=1), level)
    return Interval(mean, min(low, mean), max(high, mean), sum(g.size for g in kept), level)


def hoeffding_halfwidth(n: int, *, level: float = LEVEL, value_range: float = 1.0) -> float:
    """Half-width of Hoeffding's two-sided interval for the mean of `n` independent values in a range of
    `value_range` (the paper's bound for utilities in [0, 1]): range * sqrt(ln(2 / (1 - level)) / (2n))."""
    if n <= 0:
        return math.inf
    return value_range * math.sqrt(math.log(2 / (1 - level)) / (2 * n))


@dataclass(frozen=True)
class PairedComparison:
    """B minus A over paired values: the mean difference, its bootstrap interval and a two-sided p-value
    (a sign-flip permutation test: under "no difference", each pair's difference is as likely negated)."""

    difference: Interval
    p_value: float
    n: int

    def record(self) -> dict[str, Any]:
        return {"difference": self.difference.record(), "p_value": round(self.p_value, 6), "n": self.n}


def paired_comparison(a: Sequence[float], b: Sequence[float], *, seed: int = 0, resamples: int = RESAMPLES,
                      level: float = LEVEL) -> PairedComparison:
    """Compares paired values (the same instance, the same downstream seed): is B better than A?

    The p-value is exact (every sign pattern) for up to EXACT_SIGN_FLIPS pairs, else from `resamples`
    random sign patterns. Pass independent pairs: pairs that share a source of chance (the instances of
    one downstream run share its solution) must be averaged into one pair first.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values must be as many on both sides ({len(a)} vs {len(b)})")
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    interval = bootstrap_ci(diffs.tolist(), seed=seed, resamples=resamples, level=level)
    if diffs.size == 0:
        return PairedComparison(interval, math.nan, 0)
    observed = abs(float(diffs.mean()))
    if not np.any(diffs):
        return PairedComparison(interval, 1.0, int(diffs.size))
    if diffs.size <= EXACT_SIGN_FLIPS:  # every sign pattern: the exact p-value
        bits = (np.arange(2 ** diffs.size)[:, None] >> np.arange(diffs.size)) & 1
        signs = 1.0 - 2.0 * bits
        extreme = int(np.sum(np.abs((signs * diffs).mean(axis=1)) >= observed - 1e-12))
        return PairedComparison(interval, extreme / 2 ** diffs.size, int(diffs.size))
    rng = np.random.default_rng(seed + 1)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, diffs.size))
    extreme = int(np.sum(np.abs((signs * diffs).mean(axis=1)) >= observed - 1e-12))
    return PairedComparison(interval, (extreme + 1) / (resamples + 1), int(diffs.size))


def smallest_sign_flip_p(n: int) -> float:
    """The smallest two-sided p-value the sign-flip test can give with `n` pairs (all of one sign): 2 / 2^n."""
    return 1.0 if n <= 0 else min(1.0, 2.0 / 2 ** n)


def pairs_needed(alpha: float, tests: int = 1) -> int:
    """The fewest pairs with which the sign-flip test can reach p < `alpha` when its p is adjusted by Holm's method
    over `tests` tests (its smallest p multiplied by `tests`): 6 for one test at 0.05."""
    return next(n for n in range(1, 64) if smallest_sign_flip_p(n) * tests < alpha)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values, in their order: the k-th smallest is multiplied by
    (m - k + 1) and made no smaller than the one before it (capped at 1). Rejecting where the adjusted p is below
    alpha keeps the chance of any false rejection in the family at most alpha, whatever their dependence."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
