"""`evaluate`: a program scored on every instance of a split, in one runner, within the evaluation's budgets."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable

from selftaught.evaluate._limits import cpu_budget_for, deadline_for, limits_of
from selftaught.evaluate._records import Evaluation, InstanceOutcome
from selftaught.evaluate._runner import Answered, Runner
from selftaught.evaluate._verdicts import Failed
from selftaught.sandbox import Sandbox, select_sandbox
from selftaught.store import program_hash
from selftaught.tasks import SplitSecret, Task, load_split_secret

#: Told how an evaluation is going: (instances done, instances in all, wall-clock seconds since it started).
EvaluationProgress = Callable[[int, int, float], None]
PROGRESS_AFTER = 3.0  # wall-clock seconds an evaluation runs before it reports its progress
PROGRESS_EVERY = 3.0  # wall-clock seconds between its reports after that (the last instance is always reported)
QUICK_JUDGEMENT = 0.001  # seconds: a task's judgement quicker than this overlaps the next call


def worker_seed(run_seed: int, program: str | None) -> int:
    """The random seed a program's worker gets in a run with `run_seed` (a run and `selftaught score --seed`
    derive it alike, so `score` reproduces what the run recorded)."""
    digest = program_hash(program) if isinstance(program, str) else "-"
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{digest}".encode()).digest()[:4], "big")


def evaluate(
    task: Task,
    program: str | None,
    split: str = "val",
    *,
    sandbox: Sandbox | None = None,
    seed: int = 0,
    secret: SplitSecret | None = None,
    deadline: float | None = None,
    progress: EvaluationProgress | None = None,
) -> Evaluation:
    """Scores `program` on every instance of `split`; failures are data, never exceptions.

    Without `sandbox`, the default (`auto`) sandbox is used: bubblewrap where it works. Without
    `secret`, the user's split secret (see `selftaught.tasks.load_split_secret`). `deadline` (seconds)
    replaces the evaluation's own (`deadline_for`). `progress`, if given, is called after an instance once
    the evaluation has run PROGRESS_AFTER seconds, then every PROGRESS_EVERY seconds and after the last
    instance (an evaluation that ends sooner never calls it). A task whose
    scorer or instance generator fails raises ScorerError: that is the task's fault, not the
    program's. A worker that cannot start at all raises WorkerError.
    """
    started = time.perf_counter()
    instances = task.instances(split, secret or load_split_secret())
    fail = task.failure_score
    budget = deadline_for(task, len(instances)) if deadline is None else deadline
    cpu_budget = cpu_budget_for(task, len(instances))
    limits = limits_of(task, budget, cpu_budget)
    if not isinstance(program, str) or not program.strip():
        return Evaluation(task.name, split, fail, 0.0, "no_code", "no program", limits=limits)
    runner = Runner(sandbox or select_sandbox().sandbox, task, program, seed, started + budget)
    outcomes: list[InstanceOutcome] = []
    reported: float | None = None  # when progress was last reported (seconds since the start)
    # The last call answered, judged once the next call is sent (the host's judging overlaps the worker's work) while
    # judging proves quick; a judgement that took longer has every later one made before the next call, as the
    # host's delay would count against the next instance's wall-clock limits.
    answered: Answered | None = None
    quick = False

    def report() -> None:
        nonlocal reported
        elapsed = time.perf_counter() - started
        if progress is None or elapsed < PROGRESS_AFTER:
            return
        if reported is None or elapsed - reported >= PROGRESS_EVERY or len(outcomes) == len(instances):
            reported = elapsed
            progress(len(outcomes), len(instances), elapsed)

    def settle() -> None:
        """Judges the last call answered, if any (its outcome takes its place, in order)."""
        nonlocal answered, quick
        if answered is not None:
            began = time.perf_counter()
            outcomes.append(runner.judge(answered))
            quick = time.perf_counter() - began < QUICK_JUDGEMENT
            answered = None
            report()

    def done(outcome: InstanceOutcome) -> None:
        settle()
        outcomes.append(outcome)
        report()

    try:
        for index, instance in enumerate(instances):
            begun = bool(outcomes) or answered is not None
            if begun and runner.remaining() <= 0:  # out of time: no instance starts past the deadline
                done(InstanceOutcome(fail, 0.0, "deadline", "the evaluation ran out of time"))
                continue
            if runner.cpu_spent > cpu_budget:  # nor once the program has burnt the CPU of every limit
                done(InstanceOutcome(fail, 0.0, "deadline", f"the program used the evaluation's CPU "
                                     f"budget ({runner.cpu_spent:.2f}s of {cpu_budget:g}s)"))
                continue
            try:
                runner.ensure()
            except Failed as failed:
                if not begun and failed.kind != "deadline":  # the program itself is broken
                    runner.close()
                    return Evaluation(task.name, split, fail, time.perf_counter() - started, failed.kind,
                                      failed.detail, audit=runner.audit.record(), limits=limits, clock=runner.clock)
                done(InstanceOutcome(fail, 0.0, failed.kind, failed.detail))
                continue
            upcoming = instances[index + 1] if index + 1 < len(instances) else None
            result = runner.run(instance, upcoming, settle if answered is not None else None)
            if isinstance(result, Answered):
                answered = result
                if not quick:
                    settle()
            else:
                done(result)
        settle()
    finally:
        runner.close()
    score = sum(o.score for o in outcomes) / len(outcomes) if outcomes else fail
    counts = Counter(o.failure for o in outcomes if o.failure)
    flags = Counter(flag for o in outcomes for flag in o.flags)
    return Evaluation(
        task.name,
        split,
        task.clip(score),
        time.perf_counter() - started,
        outcomes=tuple(outcomes),
        failures=dict(counts),
        detail=next((o.detail for o in outcomes if o.failure), ""),
        flags=dict(flags),
        audit=runner.audit.record(),
        load_time=runner.load_time,
        limits=limits,
        deadline_hit="deadline" in counts,
        clock=runner.clock,
    )
