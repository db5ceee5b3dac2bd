"""Self-improvement: I_t = I_{t-1}(meta_utility, I_{t-1}, LM), recorded with val and test meta-utility."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selftaught.broker import Services, run_improver
from selftaught.stats import Interval, bounds, hoeffding_halfwidth
from selftaught.stop.archive import Archive
from selftaught.stop.gate import GateDecision, run_gate
from selftaught.stop.meta_utility import MetaScore, MetaUtility, MetaUtilityService
from selftaught.store import program_hash
from selftaught.tasks import Task


@dataclass(frozen=True)
class Iteration:
    """One improver of the run and how it scored.

    Attributes:
      meta_utility_val, meta_utility_test: the fresh measurement of I_t (downstream runs of the
        `measure` purpose, whose LM samples the improver never saw): the figures to report.
      selection_score: the meta-utility on val that the improving improver saw for the improver it
        returned, when it asked for one (`select` samples; None for I_0 and for a kept improver).
        It is what I_t was chosen with, so it is biased upwards: compare, do not report it.
      kept_previous: the step's output failed (crashed, no improver, or meta-utility 0), so
        I_t is its parent, as in the paper (I_{t-1} in linear STOP); or (`adopt = "better"`) the gate did not find
        it better.
      parent: the step whose improver this step improved (None for I_0): in linear STOP the latest adopted one,
        in a population the one `selftaught.stop.archive` chose.
      gate: the adoption gate's decision (`adopt = "better"`, for a step whose improver ran and scored above 0);
        recorded only when the gate decided.
      val_interval, test_interval: the measurement's 95% nested-bootstrap intervals (over its `runs`
        downstream runs and their instances, seeded); the record adds the paper's Hoeffding half-width
        for `runs` values in [0, 1] (the runs, not the instances, are what is independent).
    """

    index: int
    improver: str
    meta_utility_val: float
    meta_utility_test: float
    kept_previous: bool = False
    failure: str | None = None
    detail: str = ""
    selection_score: float | None = None
    val_interval: Interval | None = None
    test_interval: Interval | None = None
    runs: int = 0
    gate: GateDecision | None = None
    parent: int | None = None

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "iteration": self.index,
            "parent": self.parent,
            "improver": program_hash(self.improver),
            "meta_utility_val": self.meta_utility_val,
            "meta_utility_test": self.meta_utility_test,
            "selection_score": self.selection_score,
            "meta_utility_val_ci": bounds(self.val_interval),
            "meta_utility_test_ci": bounds(self.test_interval),
            "hoeffding_halfwidth": None if self.val_interval is None else round(hoeffding_halfwidth(self.runs), 6),
            "kept_previous": self.kept_previous,
            "failure": self.failure,
            "detail": self.detail[-500:],
        }
        return record if self.gate is None else record | {"gate": self.gate.record()}


def self_improve(
    services: Services,
    task: Task,
    seed_improver: str,
    iterations: int,
    on_iteration: Callable[[list[Iteration]], None] | None = None,
    recorded_gates: dict[int, GateDecision] | None = None,
) -> list[Iteration]:
    """Runs STOP for `iterations` rounds from `seed_improver`; records each I_t in the store.

    `on_iteration` is called with the history after every iteration (to save a summary as the
    run goes, so an interrupted run keeps what it finished). Under `adopt = "better"` a step's
    improver is adopted only when the gate (`selftaught.stop.gate`) finds it better than I_{t-1};
    `recorded_gates` (step -> decision, from a resumed run's events) are kept, not recomputed.
    """
    meta = MetaUtility(services, [task])
    store = services.store
    history: list[Iteration] = []
    config = services.config

    def measure(t: int, improver: str) -> MetaScore:
        services.progress(f"[I_{t}] measuring meta-utility on val and test (fresh samples)")
        return meta.score(improver, purpose="measure", with_test=True, label=f"[I_{t}] ")

    def commit(item: Iteration) -> None:
        history.append(item)
        if store is not None:
            store.save_improver(item.index, item.improver)
        services.event("iteration", **item.record())
        seen = "" if item.selection_score is None else f" (selected with val={item.selection_score:.4f})"
        services.progress(
            f"[I_{item.index}] meta-utility val={item.meta_utility_val:.4f} test={item.meta_utility_test:.4f}{seen}"
            + (" (kept previous improver)" if item.kept_previous else "")
        )
        if on_iteration is not None:
            on_iteration(history)

    services.iteration = 0
    first = measure(0, seed_improver)
    commit(Iteration(0, seed_improver, first.val, first.test or 0.0, **_intervals(first)))
    archive = Archive(config.population, config.parent, [0])
    for t in range(1, iterations + 1):
        p = archive.parent(history)
        parent = history[p]
        services.iteration = t
        services.progress(f"[I_{t}] improving I_{p} with itself")
        utility = MetaUtilityService(meta, services.config.meta_utility_budget, label=f"[I_{t}] ")
        lm = services.language_model(f"stop/{t}", level="meta")
        outcome = run_improver(services, parent.improver, parent.improver, utility, lm, seed=t)
        candidate = outcome.solution
        failure = outcome.failure
        score = measure(t, candidate) if candidate and failure is None else None
        kept: dict[str, Any] = {"val_interval": parent.val_interval, "test_interval": parent.test_interval,
                                "runs": parent.runs, "kept_previous": True, "parent": p}
        if candidate is None or score is None or score.failed or score.val <= 0:
            failure = failure or ("no_code" if not candidate else "scored_zero")
            detail = outcome.detail or "the new improver failed; keeping the previous one"
            commit(Iteration(t, parent.improver, parent.meta_utility_val, parent.meta_utility_test, failure=failure,
                             detail=detail, **kept))
            continue
        gate = None
        if config.adopt == "better":
            gate = (recorded_gates or {}).get(t)
            if gate is None or (gate.incumbent, gate.candidate) != (program_hash(parent.improver),
                                                                    program_hash(candidate)):
                services.progress(f"[I_{t}] gate: I_{t} against I_{p}, {config.gate_runs} val runs each")
                gate = run_gate(meta, t, parent.improver, candidate, config.gate_runs)
            services.progress(f"[I_{t}] {gate.line()}")
        if gate is not None and not gate.adopted:
            commit(Iteration(t, parent.improver, parent.meta_utility_val, parent.meta_utility_test,
                             detail=gate.line(), gate=gate, **kept))
            continue
        commit(Iteration(t, candidate, score.val, score.test or 0.0, selection_score=utility.seen(candidate),
                         gate=gate, parent=p, **_intervals(score)))
        archive.add(t, history)
    return history


def _intervals(score: MetaScore) -> dict[str, Any]:
    return {"val_interval": score.interval("val"), "test_interval": score.interval("test"), "runs": len(score.runs)}
