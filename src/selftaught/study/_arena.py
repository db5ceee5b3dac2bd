"""The arena: every improver's meta-utility on every task under one set of budgets, ranked, with paired tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from selftaught.broker import Services
from selftaught.stats import Interval, holm
from selftaught.stop.compare import ALPHA, Comparison, compare_scores, decided, p_text
from selftaught.stop.meta_utility import MetaScore, MetaUtility
from selftaught.store import program_hash
from selftaught.tasks import Task

PURPOSE = "arena"  # its own LM samples: never those a run selected or measured with


@dataclass(frozen=True)
class Standing:
    """One improver on one task: its meta-utility on val and test (nested-bootstrap intervals over downstream runs
    and instances) and how many of its downstream runs failed."""

    improver: str
    task: str
    val: Interval
    test: Interval
    failed_runs: int
    runs: int

    def record(self) -> dict[str, Any]:
        return {"improver": self.improver, "task": self.task, "val": self.val.record(), "test": self.test.record(),
                "failed_runs": self.failed_runs, "downstream_runs": self.runs}


@dataclass(frozen=True)
class Pair:
    """B against A on one task's test split (the paired test of `selftaught compare`), with its p-value adjusted
    by Holm's method over every pair of the arena (all tasks: the family of every claim it makes)."""

    task: str
    a: str
    b: str
    comparison: Comparison
    p_holm: float

    @property
    def significant(self) -> bool:
        """The adjusted p below ALPHA, and the difference's interval excluding 0 (compare's rule, on the adjusted p)."""
        return decided(self.p_holm, self.comparison.difference)

    def verdict(self) -> str:
        d = self.comparison.difference
        figures = (f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}], {p_text(self.comparison.p_value)}, "
                   f"Holm-adjusted {p_text(self.p_holm)}")
        if self.significant:
            better, worse = (self.b, self.a) if d.mean > 0 else (self.a, self.b)
            return f"{better} is better than {worse}: {figures}"
        return f"no significant difference: {figures}"

    def record(self) -> dict[str, Any]:
        c = self.comparison
        return {"task": self.task, "a": self.a, "b": self.b, "difference": c.difference.record(),
                "p_value": round(c.p_value, 6), "p_holm": round(self.p_holm, 6), "significant": self.significant,
                "smallest_p": round(c.smallest_p, 6), "verdict": self.verdict()}


@dataclass(frozen=True)
class Arena:
    """What the arena found: standings per task, the leaderboard, and the pairwise tests."""

    improvers: tuple[str, ...]
    tasks: tuple[str, ...]
    standings: tuple[Standing, ...]
    pairs: tuple[Pair, ...]

    def leaderboard(self, task: str) -> list[Standing]:
        """`task`'s standings, best test meta-utility first (ties in the arena's order of improvers)."""
        order = {name: i for i, name in enumerate(self.improvers)}
        return sorted((s for s in self.standings if s.task == task), key=lambda s: (-s.test.mean, order[s.improver]))

    def overall(self) -> list[tuple[str, float, float]]:
        """Each improver's mean test meta-utility over the tasks and its mean rank (1 = best), best first."""
        ranks: dict[str, list[int]] = {name: [] for name in self.improvers}
        means: dict[str, list[float]] = {name: [] for name in self.improvers}
        for task in self.tasks:
            for rank, standing in enumerate(self.leaderboard(task), start=1):
                ranks[standing.improver].append(rank)
                means[standing.improver].append(standing.test.mean)
        rows = [(name, sum(means[name]) / len(means[name]), sum(ranks[name]) / len(ranks[name]))
                for name in self.improvers]
        return sorted(rows, key=lambda row: (row[2], -row[1]))

    def record(self) -> dict[str, Any]:
        return {
            "improvers": list(self.improvers), "tasks": list(self.tasks), "alpha": ALPHA,
            "correction": "holm (over every pair of every task)",
            "leaderboards": {task: [s.record() for s in self.leaderboard(task)] for task in self.tasks},
            "overall": [{"improver": name, "mean_test": round(mean, 6), "mean_rank": round(rank, 3)}
                        for name, mean, rank in self.overall()],
            "pairs": [p.record() for p in self.pairs],
        }


def run_arena(services: Services, tasks: Sequence[Task], improvers: Mapping[str, str],
              progress: Callable[[str], None] | None = None) -> Arena:
    """Every improver `downstream_runs` times on every task (purpose `arena`: fresh LM samples, the run's seed, the
    same run indices for every improver), all at once; then the standings and every pair's paired test.

    `improvers`: name -> program, in the order the results list them (two names may hold the same program: it is
    run once)."""
    if len(improvers) < 1 or not tasks:
        raise ValueError("an arena needs improvers and tasks")
    say = progress or (lambda _text: None)
    metas = {task.name: MetaUtility(services, [task]) for task in tasks}
    jobs = [(task.name, name) for task in tasks for name in improvers]
    say(f"arena: {len(improvers)} improvers on {len(tasks)} task(s), {services.config.downstream_runs} downstream "
        f"runs each ({len(jobs)} measurements at once)")
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="selftaught-arena") as pool:
        futures = {job: pool.submit(metas[job[0]].score, improvers[job[1]], purpose=PURPOSE, with_test=True,
                                    label=f"[{job[1]} on {job[0]}] ") for job in jobs}
        scores: dict[tuple[str, str], MetaScore] = {job: future.result() for job, future in futures.items()}
    standings = tuple(Standing(name, task, score.interval("val"), score.interval("test"),
                               sum(r.failure is not None for r in score.runs), len(score.runs))
                      for (task, name), score in scores.items())
    compared = [(task.name, a, b, compare_scores(task.name, "test", scores[(task.name, a)], scores[(task.name, b)]))
                for task in tasks for a, b in itertools.combinations(improvers, 2)]
    adjusted = holm([c.p_value for *_, c in compared])
    pairs = tuple(Pair(task, a, b, c, p) for (task, a, b, c), p in zip(compared, adjusted, strict=True))
    return Arena(tuple(improvers), tuple(t.name for t in tasks), standings, pairs)


def distinct(improvers: Mapping[str, str]) -> dict[str, str]:
    """Improver names -> their programs' hashes (what the record keeps to say what was run)."""
    return {name: program_hash(program) for name, program in improvers.items()}
