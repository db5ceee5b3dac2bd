"""The meta-utility: an improver's worth is the score of the solutions it produces downstream."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from selftaught.broker import HeldRecords, Services, TaskUtility, holding, note_sandbox_flag
from selftaught.config import Config
from selftaught.evaluate import Evaluation
from selftaught.improver import meta_utility_description
from selftaught.speculate import code_candidates
from selftaught.stats import Interval, nested_bootstrap_ci
from selftaught.stop.formulations import improve_passes, initial_solution, pass_context, passes
from selftaught.store import program_hash
from selftaught.tasks import Task

VAL_TEST_GAP = 0.2  # a solution scoring this much higher on val than on test is flagged
#: Why downstream runs are made; each purpose draws its own LM samples (its streams are named by it), so a
#: reported figure never replays the samples an improver was selected with (`compare`: `selftaught compare`;
#: `arena`: `selftaught arena`). `gate/<t>`: the adoption gate of step t (`selftaught.stop.gate`), fresh per step, so
#: I_{t-1} is not judged again on the samples it was adopted with.
PURPOSES = ("select", "measure", "transfer", "compare", "arena", "gate")


def purpose_kind(purpose: str) -> str:
    """The kind of a purpose (`gate/3` -> `gate`), checked: what its evaluations record as their purpose."""
    kind, _, step = purpose.partition("/")
    if kind not in PURPOSES or not (step.isdigit() if kind == "gate" else not step):
        raise ValueError(f"unknown purpose {purpose!r}")
    return kind


@dataclass(frozen=True)
class DownstreamRun:
    """One run of an improver on a downstream task, and how its solution scored.

    `val_instances`, `test_instances`: the solution's score on each instance of the split, in instance order
    (empty when there was no solution, or it could not even be loaded: then every instance scored `val`/`test`).
    """

    task: str
    index: int
    val: float
    test: float | None
    failure: str | None
    lm_calls: int
    utility_calls: int
    solution: str | None = field(repr=False, default=None)
    val_instances: tuple[float, ...] = field(repr=False, default=())
    test_instances: tuple[float, ...] = field(repr=False, default=())
    # why the run failed (the improver's message); under I^k, which of its passes failed (a run may still succeed)
    detail: str = field(repr=False, default="", compare=False)

    def instance_scores(self, split: str, width: int) -> list[float]:
        """The per-instance scores on `split`; a run without them (no solution, or one that failed to load)
        scored its split score on every one of `width` instances."""
        kept = self.test_instances if split == "test" else self.val_instances
        if kept:
            return list(kept)
        score = self.test if split == "test" else self.val
        return [0.0 if score is None else score] * width


@dataclass(frozen=True)
class MetaScore:
    """Mean downstream score of an improver on val (and test, when asked), with its runs."""

    val: float
    test: float | None
    runs: tuple[DownstreamRun, ...]

    def interval(self, split: str, *, seed: int = 0) -> Interval:
        """The meta-utility on `split` with its 95% nested-bootstrap interval (downstream runs x instances; a run
        without a solution is its one failure score). `selftaught report` recomputes it alike from the events."""
        return nested_bootstrap_ci([r.instance_scores(split, 1) for r in self.runs], seed=seed)

    @property
    def failed(self) -> bool:
        """True when every downstream run failed (the improver is broken)."""
        return all(r.failure is not None for r in self.runs)


def meta_description(config: Config) -> str:
    """The meta-utility's description (its `utility.str`, what the LM sees at the meta level) under `config`'s
    budgets: one place for the run and for `selftaught.forecast`, which prices the prompts that carry it."""
    return meta_utility_description(budget=config.meta_utility_budget, downstream_runs=config.downstream_runs,
                                    lm_budget=config.lm_budget, max_responses=config.max_responses_per_call,
                                    maximizer=config.maximizer)


class MetaUtility:
    """Scores improvers by their downstream solutions on `tasks`, with fresh budgets per run.

    Downstream runs are deterministic per (run seed, purpose, improver, task, run index), so they
    can run in parallel and the same improver always gets the same meta-utility for a purpose. The
    purpose (`select`: the meta-utility an improving improver sees; `measure`: the reported figure
    of an I_t; `transfer`) names the LM streams, so different purposes never share LM samples,
    cached or not.
    """

    def __init__(self, services: Services, tasks: Sequence[Task]) -> None:
        self.services = services
        self.tasks = list(tasks)
        self.description = meta_description(services.config)
        self._cache: dict[tuple[str, str, bool, int], Future[MetaScore]] = {}
        self._held: dict[tuple[str, str, bool, int], HeldRecords] = {}  # what speculative scorings recorded, unasked
        self._lock = threading.Lock()

    def score(self, improver: str | None, *, purpose: str, with_test: bool = False, label: str = "",
              speculative: bool = False, runs: int | None = None) -> MetaScore:
        """Runs the improver `downstream_runs` times (`runs`, when given) on each task and averages its solutions'
        scores.

        The downstream runs overlap up to `concurrency` at once: they mostly wait on the LM (their
        evaluations are bounded by the executor's `workers`). One computation per (improver, purpose,
        with_test): a second call, while it runs or after, is served its result. `speculative`: scored
        before an improver asked (see `selftaught.speculate`); what its downstream runs record (their runs,
        programs, utility calls, safety flags; not their LM calls, which are spending) is held until the first
        ask, which writes it, in order, as if it computed the score then. Never asked: never written.
        """
        purpose_kind(purpose)
        count = self.services.config.downstream_runs if runs is None else runs
        if not isinstance(improver, str) or not improver.strip():
            none = tuple(DownstreamRun(t.name, 0, t.failure_score, None, "no_code", 0, 0) for t in self.tasks)
            return MetaScore(sum(r.val for r in none) / len(none), None, none)
        key = (program_hash(improver), purpose, with_test, count)
        speculation = self.services.speculation
        with self._lock:
            future = self._cache.get(key)
            owner = future is None
            if future is None:
                future = self._cache[key] = Future()
                if speculative:
                    self._held[key] = HeldRecords()
            held = self._held.get(key)
        if not owner:
            speculation.note("meta_scores", key, speculative=speculative)
            if not speculative and held is not None:  # the first ask: what was computed so far is recorded now
                held.release()
            return future.result()
        try:
            if held is None:
                result = self._compute(improver, purpose, with_test, label, count)
            else:
                with holding(held):
                    result = self._compute(improver, purpose, with_test, label, count)
        except BaseException as exc:
            with self._lock:
                del self._cache[key]
                self._held.pop(key, None)
            future.set_exception(exc)
            raise
        future.set_result(result)
        speculation.note("meta_scores", key, speculative=speculative, lm_calls=sum(r.lm_calls for r in result.runs))
        return result

    def _compute(self, improver: str, purpose: str, with_test: bool, label: str, count: int) -> MetaScore:
        jobs = [(task, i) for task in self.tasks for i in range(count)]
        done = [0]

        def one(job: tuple[Task, int]) -> DownstreamRun:
            run = self.downstream(improver, job[0], job[1], purpose=purpose, with_test=with_test)
            with self._lock:
                done[0] += 1
                self.services.progress(f"{label}downstream run {done[0]}/{len(jobs)}: {run.task} val={run.val:.3f}")
            return run

        pool = ThreadPoolExecutor(max_workers=min(len(jobs), self.services.config.concurrency))
        try:  # each run in a copy of this thread's context: it records where this computation records
            futures = [pool.submit(copy_context().run, one, job) for job in jobs]
            runs = tuple(f.result() for f in futures)
        except BaseException:  # interrupted (or a fault): do not wait for the other downstream runs
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        val = sum(r.val for r in runs) / len(runs)
        test = sum(r.test or 0.0 for r in runs) / len(runs) if with_test else None
        return MetaScore(val, test, runs)

    def downstream(self, improver: str, task: Task, index: int, *, purpose: str, with_test: bool) -> DownstreamRun:
        """One improver run on `task` from its seed solution (the empty one under the maximizer formulation), or at
        test time the improver applied `iterate` times (see `selftaught.stop.formulations`), then the secret
        scoring of the solution it returned."""
        services = self.services
        digest = program_hash(improver)
        stream = f"{purpose}/{digest}/{task.name}/{index}"
        context: dict[str, Any] = {"level": "task", "improver": digest, "task_name": task.name, "run": index,
                                   "purpose": purpose_kind(purpose)}
        count = passes(services.config, purpose)

        def utility(number: int) -> TaskUtility:
            return TaskUtility(services, task, "val", services.config.utility_budget, **context,
                               **pass_context(number, count))

        outcome = improve_passes(services, improver, initial_solution(services.config, task), count, stream=stream,
                                 utility_for=utility, seed_for=_index_seed, task=task.name).final
        if outcome.solution is None:
            fail = task.failure_score
            return DownstreamRun(task.name, index, fail, fail if with_test else None,
                                 outcome.failure or "no_code", outcome.lm_calls, outcome.utility_calls,
                                 detail=outcome.detail)
        val_eval = services.evaluate(task, outcome.solution, "val", **context)
        test_eval = services.evaluate(task, outcome.solution, "test", **context) if with_test else None
        val, test = val_eval.score, None if test_eval is None else test_eval.score
        if test is not None and val - test > VAL_TEST_GAP:
            services.event("reward_flag", flag="val_test_gap", task=task.name, val=val, test=test,
                           program=program_hash(outcome.solution))
        return DownstreamRun(task.name, index, val, test, None, outcome.lm_calls, outcome.utility_calls,
                             outcome.solution, _instance_scores(val_eval),
                             () if test_eval is None else _instance_scores(test_eval), detail=outcome.detail)


def _instance_scores(evaluation: Evaluation) -> tuple[float, ...]:
    return tuple(o.score for o in evaluation.outcomes)


def _index_seed(stream: str) -> int:
    return int(program_hash(stream), 16) % (2**31)


class MetaUtilityService:
    """The meta-utility as a budgeted utility for an improver improving an improver (purpose `select`).

    `scores` keeps what the improver saw, per candidate, so a run can report the selection score of
    the improver it returned beside that improver's fresh measurement.
    """

    def __init__(self, meta: MetaUtility, budget: int, label: str = "") -> None:
        self.meta = meta
        self.description = meta.description
        self.budget = budget
        self.uses = 0
        self.label = label
        self.scores: list[tuple[str | None, float]] = []
        self._lock = threading.Lock()

    def __call__(self, solution: Any, args: list[Any], kwargs: dict[str, Any]) -> float:
        note_sandbox_flag(self.meta.services, kwargs, level="meta")
        with self._lock:
            self.uses += 1
            use = self.uses
        if use > self.budget:
            return 0.0
        improver = solution if isinstance(solution, str) else None
        value = self.meta.score(improver, purpose="select", label=f"{self.label}candidate {use}: ").val
        with self._lock:
            self.scores.append((program_hash(improver) if improver else None, value))
        return value

    def speculate(self, replies: Any) -> None:
        """Starts the meta-utility of the improvers in `replies` in the background (see `selftaught.speculate`):
        no budget is charged, but their downstream runs call the LM (counted as speculative usage)."""
        speculation = self.meta.services.speculation
        if not speculation.enabled:
            return
        for index, improver in enumerate(code_candidates(replies, self.budget - self.uses)):
            label = f"{self.label}speculative candidate {index + 1}: "
            speculation.start(partial(self.meta.score, improver, purpose="select", label=label, speculative=True))

    def seen(self, improver: str | None) -> float | None:
        """The score the improver saw for `improver`, if it asked for one (None otherwise)."""
        digest = program_hash(improver) if improver else None
        return next((value for seen, value in self.scores if digest is not None and seen == digest), None)
