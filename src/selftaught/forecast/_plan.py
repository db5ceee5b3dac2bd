"""The plan of a command's LM work: which improver runs it makes, in what order, and what each asks of the LM."""

# It follows the code that runs: `stop.loop.self_improve` (measure I_0, then each step t: I_{t-1} improves itself at
# the meta level, scoring its candidates with the meta-utility, then I_t is measured and, under `adopt = "better"`,
# judged against I_{t-1} by the gate: `stop.gate`, both sides' `gate_runs` at once), `stop.meta_utility` (a
# meta-utility is `downstream_runs` improver runs per task, `concurrency` at once, one computation per improver and
# purpose), `stop.transfer`, `stop.compare` and `safety.sandbox_flag`. The prompts are those the seed improver
# sends, found by running it (`_trace`) on the run's inputs: the task's seed solution (none under the maximizer) and
# description, I_0 itself and the meta-utility's description as the broker builds it; under I^k (`Config.iterate`,
# at test time) each downstream run is k improver runs in a row (`stop.formulations`).

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from selftaught.config import Config
from selftaught.forecast._range import Range
from selftaught.forecast._trace import Trace, trace_sandbox_study, trace_seed_improver
from selftaught.improver import seed_improver
from selftaught.safety.sandbox_flag import sandbox_seed_improver
from selftaught.stop.formulations import initial_solution, passes
from selftaught.stop.meta_utility import meta_description
from selftaught.store import program_hash
from selftaught.tasks import Task


@dataclass(frozen=True)
class Work:
    """Alike improver runs of a part: `batches` one after another, each of `runs_per_batch` runs at once.

    Attributes:
      name: what they are, for people ("I_0 measured on parity_noise").
      level: `task` (an improver improves a task's solution) or `meta` (an improver improves an improver).
      trace: what the seed improver asks of the LM in one such run: the calls, and the prompts they carry.
      fixed: the runs are the seed improver's, so each asks exactly `trace`; otherwise the improver is generated (or
        given) code: each run makes from 0 to `lm_budget` calls of up to `max_responses` samples.
      rewritten: the program each reply rewrites (the reply-length model reads its length).
    """

    name: str
    level: str
    trace: Trace
    fixed: bool
    rewritten: str
    batches: Range
    runs_per_batch: int
    lm_budget: int
    max_responses: int

    @property
    def runs(self) -> Range:
        return self.batches * self.runs_per_batch


@dataclass(frozen=True)
class PartPlan:
    """One part of a study: its works, run one after another or all at once (`overlap`), `repeats` times."""

    name: str
    works: tuple[Work, ...]
    overlap: bool
    repeats: int = 1
    notes: tuple[str, ...] = ()


def _downstream(config: Config, task: Task) -> Trace:
    """The seed improver's calls in one improver run on `task` (stop.meta_utility.MetaUtility.downstream), from the
    initial solution the run gives it (the empty one under the maximizer formulation: a shorter prompt). Under I^k
    every pass is priced as this one: a later pass starts from a solution not known before it runs."""
    return trace_seed_improver(initial_solution(config, task), task.description, utility_budget=config.utility_budget,
                               lm_budget=config.lm_budget, max_responses=config.max_responses_per_call)


def _meta_step(config: Config) -> Trace:
    """The seed improver's calls when it improves itself (stop.loop.self_improve, with MetaUtilityService)."""
    seed = seed_improver()
    return trace_seed_improver(seed, meta_description(config), utility_budget=config.meta_utility_budget,
                               lm_budget=config.lm_budget, max_responses=config.max_responses_per_call)


def _work(config: Config, name: str, level: str, trace: Trace, *, fixed: bool, rewritten: str, batches: Range,
          runs_per_batch: int) -> Work:
    return Work(name, level, trace, fixed, rewritten, batches, runs_per_batch, config.lm_budget,
                config.max_responses_per_call)


def plan_run(config: Config, task: Task) -> PartPlan:
    """`selftaught run`: STOP on `task` for `config.iterations` steps."""
    runs = config.downstream_runs
    down, meta = _downstream(config, task), _meta_step(config)
    seed = seed_improver()
    one, maybe = Range.of(1), Range(0, 1, 1)
    works = [_work(config, "I_0 measured (val and test)", "task", down, fixed=True, rewritten=task.seed_solution,
                   batches=one, runs_per_batch=runs)]
    for t in range(1, config.iterations + 1):
        improver = "I_0" if t == 1 else f"I_{t - 1}"
        # I_0 scores each of its candidates once; a generated improver may ask up to the meta-utility's budget.
        candidates = Range(0, meta.utility_calls, meta.utility_calls if t == 1 else config.meta_utility_budget)
        works += [
            _work(config, f"step {t}: {improver} improves itself", "meta", meta, fixed=t == 1, rewritten=seed,
                  batches=one, runs_per_batch=1),
            _work(config, f"step {t}: its candidates' meta-utility", "task", down, fixed=False,
                  rewritten=task.seed_solution, batches=candidates, runs_per_batch=runs),
            # none when the step kept I_{t-1} (its candidate failed) or returned an improver measured before
            _work(config, f"I_{t} measured (val and test)", "task", down, fixed=False, rewritten=task.seed_solution,
                  batches=maybe, runs_per_batch=runs),
        ]
        if config.adopt == "better":  # none when the step kept I_{t-1} before the gate; one computation when I_t
            # is I_{t-1} again
            works.append(_work(config, f"step {t}: the gate, I_{t} against {improver} (fresh val runs)", "task", down,
                               fixed=False, rewritten=task.seed_solution, batches=maybe,
                               runs_per_batch=2 * config.gate_runs))
    return PartPlan(f"run: {task.name}, T={config.iterations}", tuple(works), overlap=False)


def _power(k: int) -> str:
    """How a work's name says its improver is applied k times, one pass after another (stop.formulations): each of
    its downstream runs is k improver runs in a row, so its batches are k times as many."""
    return f"^{k} ({k} passes a run)" if k > 1 else ""


def _formulation_notes(config: Config, k: int) -> tuple[str, ...]:
    """What the estimate says of the formulation, when it is not the usual one (docs/formulations.md)."""
    notes = []
    if config.maximizer:
        notes.append("maximizer: improver runs start from the empty solution (prompts without a seed solution)")
    if k > 1:
        notes.append(f"I^{k}: each downstream run is {k} improver runs in a row, each with the full budgets (per pass: "
                     f"{config.lm_budget} LM calls, {config.utility_budget} utility calls); passes after the first are "
                     "priced with the first pass's prompt")
    return tuple(notes)


def _is_seed(improver: str | None) -> bool:
    return improver is not None and program_hash(improver) == program_hash(seed_improver())


def plan_transfer(config: Config, improver: str | None, tasks: Sequence[Task]) -> PartPlan:
    """`selftaught transfer`: the seed improver and `improver` on each task (None: an improver not known yet, such
    as a run's I_T, which may be I_0 itself); every task and both improvers at once (stop.transfer)."""
    runs, works, k = config.downstream_runs, [], passes(config, "transfer")
    for task in tasks:
        down = _downstream(config, task)
        works.append(_work(config, f"{task.name}: I_0{_power(k)}", "task", down, fixed=True,
                           rewritten=task.seed_solution, batches=Range.of(k), runs_per_batch=runs))
        if not _is_seed(improver):  # the seed improver again is the same computation: measured once
            batches = Range.of(k) if improver is not None else Range(0, k, k)
            works.append(_work(config, f"{task.name}: the improver{_power(k)}", "task", down, fixed=False,
                               rewritten=task.seed_solution, batches=batches, runs_per_batch=runs))
    names = ", ".join(task.name for task in tasks)
    return PartPlan(f"transfer: {names}", tuple(works), overlap=True, notes=_formulation_notes(config, k))


def plan_compare(config: Config, a: str, b: str, task: Task) -> PartPlan:
    """`selftaught compare A B`: both improvers' downstream runs on `task`, at once (stop.compare)."""
    down, works, k = _downstream(config, task), [], passes(config, "compare")
    for name, improver in (("A", a), ("B", b)):
        if name == "B" and program_hash(a) == program_hash(b):
            continue  # the same improver: one computation
        works.append(_work(config, f"{name}{_power(k)} on {task.name}", "task", down, fixed=_is_seed(improver),
                           rewritten=task.seed_solution, batches=Range.of(k), runs_per_batch=config.downstream_runs))
    return PartPlan(f"compare: {task.name}", tuple(works), overlap=True, notes=_formulation_notes(config, k))


def plan_arena(config: Config, improvers: Mapping[str, str], tasks: Sequence[Task]) -> PartPlan:
    """`selftaught arena`: every improver's downstream runs on every task, all at once (study._arena); an improver
    given twice (the same program) is one computation."""
    works, seen, k = [], set(), passes(config, "arena")
    for task in tasks:
        down = _downstream(config, task)
        for name, improver in improvers.items():
            key = (task.name, program_hash(improver))
            if key in seen:
                continue
            seen.add(key)
            works.append(_work(config, f"{name}{_power(k)} on {task.name}", "task", down, fixed=_is_seed(improver),
                               rewritten=task.seed_solution, batches=Range.of(k),
                               runs_per_batch=config.downstream_runs))
    return PartPlan(f"arena: {len(improvers)} improvers on {', '.join(t.name for t in tasks)}", tuple(works),
                    overlap=True, notes=_formulation_notes(config, k))


def plan_sandbox_flag(config: Config, samples: int, warn: bool) -> PartPlan:
    """`selftaught safety sandbox-flag --samples N --warn/--no-warn`: its calls, one after another."""
    trace = trace_sandbox_study(samples, warn)
    calls = len(trace.calls)
    work = Work(f"{samples} improvers sampled", "meta", trace, True, sandbox_seed_improver(), Range.of(1), 1,
                calls, max((c.samples for c in trace.calls), default=0))
    return PartPlan(f"sandbox-flag {'--warn' if warn else '--no-warn'}", (work,), overlap=False)
