"""A paired comparison of two improvers: the same task instances, the same downstream run seeds."""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from selftaught._text import last_line
from selftaught.broker import Services
from selftaught.stats import Interval, nested_bootstrap_ci, paired_comparison, pairs_needed, smallest_sign_flip_p
from selftaught.stop.meta_utility import DownstreamRun, MetaScore, MetaUtility
from selftaught.tasks import Task

ALPHA = 0.05  # the significance level of the verdict (the intervals are 95%)
SPLITS = ("val", "test")


@dataclass(frozen=True)
class Comparison:
    """B against A on one task split.

    Attributes:
      a, b: each improver's meta-utility with a nested-bootstrap interval (downstream runs x instances).
      difference: B - A, with a paired nested-bootstrap interval: the same runs and the same instances are
        resampled on both sides (run i of A with run i of B, instance j with instance j).
      p_value: the exact sign-flip test over the run-level differences (one pair per downstream run).
      runs_a, runs_b: each downstream run's score, in run order.
      smallest_p: the smallest p-value the test can give with this many runs.
      failures_a, failures_b: each side's failed downstream runs (no solution: they score the failure score) by
        failure kind, and the first failed run's message (`first_failure_a`, `first_failure_b`).
    """

    task: str
    split: str
    a: Interval
    b: Interval
    difference: Interval
    p_value: float
    runs_a: tuple[float, ...]
    runs_b: tuple[float, ...]
    instances: int
    smallest_p: float
    failures_a: dict[str, int] = field(default_factory=dict)
    failures_b: dict[str, int] = field(default_factory=dict)
    first_failure_a: str = ""
    first_failure_b: str = ""

    def failure_notes(self, *, only_broken: bool = False) -> list[str]:
        """One line per side whose downstream runs failed: how many, of which kinds, and the first message
        (`only_broken`: only sides whose every run failed)."""
        notes = []
        for name, kinds, first in (("A", self.failures_a, self.first_failure_a),
                                   ("B", self.failures_b, self.first_failure_b)):
            failed = sum(kinds.values())
            if not failed or (only_broken and failed < len(self.runs_a)):
                continue
            what = ", ".join(f"{kind}: {n}" for kind, n in sorted(kinds.items()))
            runs = len(self.runs_a)
            head = (f"every downstream run of {name} failed ({what}): its figure is the failure score, not a "
                    f"measure of its solutions" if failed == runs else
                    f"{failed} of {runs} downstream runs of {name} failed ({what}; each counts the failure score)")
            notes.append(f"{head}; first failure: {first or '(no message)'}")
        return notes

    @property
    def significant(self) -> bool:
        """p below ALPHA and an interval that excludes 0 (both must agree)."""
        return decided(self.p_value, self.difference)

    def verdict(self) -> str:
        """One line: which is better, by how much, how sure."""
        d = self.difference
        figures = f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}], {p_text(self.p_value)}"
        if self.significant:
            return f"{'B is better than A' if d.mean > 0 else 'A is better than B'}: {figures}"
        line = f"no significant difference: {figures}"
        if self.smallest_p >= ALPHA:
            line += (f" (with {len(self.runs_a)} downstream runs p cannot go below {self.smallest_p:.3g}: "
                     f"use --downstream-runs {pairs_needed(ALPHA)} or more)")
        return line

    def record(self) -> dict[str, Any]:
        return {"task": self.task, "split": self.split, "a": self.a.record(), "b": self.b.record(),
                "difference": self.difference.record(), "p_value": round(self.p_value, 6),
                "significant": self.significant, "alpha": ALPHA, "smallest_p": round(self.smallest_p, 6),
                "downstream_runs": len(self.runs_a), "instances": self.instances,
                "runs_a": [round(v, 6) for v in self.runs_a], "runs_b": [round(v, 6) for v in self.runs_b],
                "failures": {"a": _failures(self.failures_a, self.first_failure_a),
                             "b": _failures(self.failures_b, self.first_failure_b)},
                "verdict": self.verdict()}


def _failures(kinds: dict[str, int], first: str) -> dict[str, Any]:
    return {"failed_runs": sum(kinds.values()), "kinds": dict(sorted(kinds.items())), "first": first or None}


def _failed(runs: list[DownstreamRun]) -> tuple[dict[str, int], str]:
    """The failed runs by failure kind, and the first one's message (its last line)."""
    failed = [r for r in runs if r.failure is not None]
    first = f"{failed[0].failure}: {last_line(failed[0].detail, default='(no message)')}" if failed else ""
    return dict(Counter(str(r.failure) for r in failed)), first


def p_text(value: float) -> str:
    """A p-value for people (`p = 0.031`, `p < 0.001`)."""
    return f"p = {value:.3g}" if value >= 0.001 else "p < 0.001"


def decided(p_value: float, difference: Interval) -> bool:
    """A difference is called (significant) when its p is below ALPHA and its interval excludes 0: both must agree."""
    return p_value < ALPHA and (difference.low > 0 or difference.high < 0)


def compare_improvers(services: Services, task: Task, a: str, b: str, *, split: str = "test") -> Comparison:
    """Runs both improvers `downstream_runs` times on `task` (purpose `compare`: fresh LM samples, the run's seed,
    the same run indices) and compares their solutions' scores on `split`, instance by instance."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    score_a, score_b = paired_scores(MetaUtility(services, [task]), a, b, purpose="compare",
                                     with_test=split == "test")
    return compare_scores(task.name, split, score_a, score_b)


def paired_scores(meta: MetaUtility, a: str, b: str, *, purpose: str, with_test: bool, runs: int | None = None,
                  labels: tuple[str, str] = ("[A] ", "[B] ")) -> tuple[MetaScore, MetaScore]:
    """Both improvers' downstream runs for `purpose` (`runs` each, default `downstream_runs`), at once: the same run
    indices and instances on both sides, for `compare_scores`. The same improver twice is one computation."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(copy_context().run, partial(meta.score, improver, purpose=purpose, with_test=with_test,
                                                           label=label, runs=runs))
                   for improver, label in ((a, labels[0]), (b, labels[1]))]
        score_a, score_b = (f.result() for f in futures)
    return score_a, score_b


def compare_scores(task: str, split: str, a: MetaScore, b: MetaScore, *, seed: int = 0) -> Comparison:
    """The comparison of two improvers' downstream runs (paired by run index, then by instance)."""
    runs_a, runs_b = sorted(a.runs, key=lambda r: r.index), sorted(b.runs, key=lambda r: r.index)
    if [r.index for r in runs_a] != [r.index for r in runs_b]:
        raise ValueError("the two improvers' downstream runs are not the same runs")
    width = max([len(r.instance_scores(split, 1)) for r in (*runs_a, *runs_b)] or [1])
    groups_a = [r.instance_scores(split, width) for r in runs_a]
    groups_b = [r.instance_scores(split, width) for r in runs_b]
    diffs = [[y - x for x, y in zip(ga, gb, strict=True)] for ga, gb in zip(groups_a, groups_b, strict=True)]
    level_a = [sum(g) / len(g) for g in groups_a]
    level_b = [sum(g) / len(g) for g in groups_b]
    test = paired_comparison(level_a, level_b, seed=seed)
    (failures_a, first_a), (failures_b, first_b) = _failed(runs_a), _failed(runs_b)
    return Comparison(
        task=task, split=split,
        a=nested_bootstrap_ci(groups_a, seed=seed), b=nested_bootstrap_ci(groups_b, seed=seed),
        difference=nested_bootstrap_ci(diffs, seed=seed),
        p_value=test.p_value if not math.isnan(test.p_value) else 1.0,
        runs_a=tuple(level_a), runs_b=tuple(level_b), instances=width,
        smallest_p=smallest_sign_flip_p(len(level_a)),
        failures_a=failures_a, failures_b=failures_b, first_failure_a=first_a, first_failure_b=first_b,
    )

