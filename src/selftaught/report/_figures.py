"""The meta-utility figures of I_0..I_T, recomputed from the `measure` downstream runs, with intervals."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from selftaught.stats import hoeffding_halfwidth, nested_bootstrap_ci

SPLITS = ("val", "test")
AGREE = 1e-6  # an evaluation's score and the mean of its instance scores (rounded to 6 places) agree this closely


@dataclass
class DownstreamResult:
    """One `measure` downstream run of an improver on a split: its score and the instance scores behind it."""

    task: str
    index: int
    score: float
    values: list[float]
    failure: str | None = None


@dataclass
class Figure:
    """A meta-utility (mean over downstream runs) with its nested-bootstrap interval and Hoeffding half-width."""

    mean: float | None
    low: float | None
    high: float | None
    runs: int
    instances: int
    failed_runs: int
    hoeffding: float | None
    run_scores: list[float] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """JSON-ready; `mean` is kept exact (it must equal the run's recorded figure), the rest rounded."""
        out = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) and k != "mean" else v)
               for k, v in self.__dict__.items() if k != "run_scores"}
        return out | {"run_scores": [round(s, 6) for s in self.run_scores]}


def parse_stream(stream: Any) -> tuple[str, str, int] | None:
    """(improver, task, run index) of a `measure/<improver>/<task>/<index>` stream; None for other purposes."""
    if not isinstance(stream, str) or not stream.startswith("measure/"):
        return None
    parts = stream.split("/")
    if len(parts) < 4 or not parts[-1].isdigit():
        return None
    return parts[1], "/".join(parts[2:-1]), int(parts[-1])


Measured = dict[str, dict[str, list[DownstreamResult]]]


def measure_runs(events: Iterable[dict[str, Any]], failure_score: float) -> Measured:
    """improver -> split -> its downstream runs, in the order the meta-utility averages them (task, index).

    A run whose improver returned no solution scores `failure_score` (as `MetaScore` counts it); otherwise
    its score is the final secret evaluation of its solution (a `measure` utility call made outside the
    improver's budget, i.e. without `use`).
    """
    outcomes: dict[tuple[str, str, int], dict[str, Any]] = {}
    finals: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    task_order: dict[str, int] = {}
    for e in events:
        kind = e.get("kind")
        if kind == "improver_run":
            key = parse_stream(e.get("stream"))
            if key is not None:
                outcomes[key] = e
                task_order.setdefault(key[1], len(task_order))
        elif (kind == "utility_call" and e.get("purpose") == "measure" and "use" not in e
              and e.get("split") in SPLITS and isinstance(e.get("score"), int | float)):
            run = e.get("run")
            if isinstance(run, int):
                task = str(e.get("task_name") or e.get("task"))
                finals[(str(e.get("improver")), task, run, str(e["split"]))] = e
                task_order.setdefault(task, len(task_order))
    result: Measured = {}
    for (improver, task, index), run in outcomes.items():
        for split in SPLITS:
            item = _one(run, finals.get((improver, task, index, split)), task, index, failure_score)
            if item is not None:
                result.setdefault(improver, {}).setdefault(split, []).append(item)
    for splits in result.values():
        for items in splits.values():
            items.sort(key=lambda r: (task_order.get(r.task, 0), r.index))
    return result


def _one(run: dict[str, Any], final: dict[str, Any] | None, task: str, index: int,
         failure_score: float) -> DownstreamResult | None:
    if not run.get("solution"):
        return DownstreamResult(task, index, failure_score, [failure_score], str(run.get("failure") or "no_code"))
    if final is None or (final.get("program") not in (None, run.get("solution"))):
        return None  # not evaluated yet (an interrupted run) or not this run's solution
    score = float(final["score"])
    values = [float(v) for v in final.get("instance_scores") or [] if isinstance(v, int | float)]
    if not values or abs(sum(values) / len(values) - score) > AGREE:
        values = [score]  # e.g. a program broken before its first instance: one score for the whole run
    return DownstreamResult(task, index, score, values)


def figure(runs: list[DownstreamResult], *, seed: int = 0, unit_range: bool = True) -> Figure:
    """The meta-utility of these runs (summed in their order, as `MetaUtility` does) and its intervals."""
    if not runs:
        return Figure(None, None, None, 0, 0, 0, None)
    mean = sum(r.score for r in runs) / len(runs)
    interval = nested_bootstrap_ci([r.values for r in runs], seed=seed)
    low, high = min(interval.low, mean), max(interval.high, mean)
    bounded = unit_range and all(0.0 <= v <= 1.0 for r in runs for v in r.values)
    return Figure(mean, low, high, len(runs), sum(len(r.values) for r in runs),
                  sum(r.failure is not None for r in runs),
                  hoeffding_halfwidth(len(runs)) if bounded else None, [r.score for r in runs])
