"""`score`: one solution scored by a task's secret utility on a split, with its interval."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selftaught.api._reporting import Reporter
from selftaught.api._setup import require_entrypoint, sandbox_for, sandbox_record
from selftaught.errors import UserError
from selftaught.evaluate import Evaluation, evaluate, evaluation_record, worker_seed
from selftaught.stats import bootstrap_ci, bounds, hoeffding_halfwidth
from selftaught.tasks import REFERENCE_SPLIT, SPLITS, Task, builtin_tasks, get_task, load_split_secret


@dataclass(frozen=True)
class ScoreResult:
    """The evaluation, its interval, and what `score --json` prints."""

    score: float
    evaluation: Evaluation
    data: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def run_score(task_name: str, program: str, reporter: Reporter, *, name: str = "solution", split: str = "val",
              seed: int = 0, split_secret: str | None = None, sandbox: str | None = None) -> ScoreResult:
    """Scores `program` (from file `name`) on `task_name`'s `split` in a sandbox, seeded as a run with `seed`.

    Split `reference` is the task's published named instances (UserError for a task without them); the result then
    also lists each one's label and score (`reference`), as each is a record of its own, not a sample.
    """
    task = get_task(task_name)
    check_split(task, split)
    require_entrypoint(program, task.entrypoint, name)
    secret = load_split_secret(split_secret)
    instances = task.instances(split, secret)
    choice = sandbox_for(sandbox, reporter)
    reporter(f"scoring {name} on {task.name} ({split}, {len(instances)} instances)")
    result = evaluate(task, program, split, sandbox=choice.sandbox, seed=worker_seed(seed, program), secret=secret,
                      progress=lambda done, total, _: reporter(f"{done}/{total} instances scored"))
    # The reference instances are each a record of its own, not a sample: no interval over them.
    spread = (score_interval(result, task.max_score - task.failure_score) if split != REFERENCE_SPLIT
              else {"score_ci": None, "hoeffding_halfwidth": None})
    record = {**evaluation_record(result), **spread, "split_secret": secret.record(), "sandbox": sandbox_record(choice)}
    if split == REFERENCE_SPLIT:
        record["reference"] = reference_scores(task, result)
    if result.outcomes and len(result.outcomes) == len(instances):
        measure = task.source_measure(instances, [None if o.failure else o.score for o in result.outcomes])
        if measure is not None:  # the source's own figure, beside our utility
            record["source_measure"] = measure
    return ScoreResult(score=result.score, evaluation=result, data=record)


def check_split(task: Task, split: str) -> None:
    """UserError (one line) unless `split` is val, test, or `reference` on a task that has reference instances."""
    if split in SPLITS or (split == REFERENCE_SPLIT and task.reference_instances()):
        return
    if split == REFERENCE_SPLIT:
        having = [name for name, other in builtin_tasks().items() if other.reference_instances()]
        raise UserError(f"task {task.name} has no reference split (its splits: {', '.join(SPLITS)}); "
                        f"the tasks with one: {', '.join(having)}")
    raise UserError(f"unknown split {split!r}; choose from {', '.join((*SPLITS, REFERENCE_SPLIT))}")


def reference_scores(task: Task, result: Evaluation) -> list[dict[str, Any]]:
    """Each reference instance's label, score and failure kind (None when it did not fail), in order."""
    return [{"instance": label, "score": outcome.score, "failure": outcome.failure}
            for label, outcome in zip(task.reference_instances(), result.outcomes, strict=False)]


def score_interval(result: Evaluation, value_range: float = 1.0) -> dict[str, Any]:
    """The score's 95% bootstrap interval over its instances (seeded), and the paper's Hoeffding half-width for
    that many instances of a score within a range of `value_range` (the task's max_score - failure_score)."""
    if not result.outcomes:
        return {"score_ci": None, "hoeffding_halfwidth": None}
    interval = bootstrap_ci([o.score for o in result.outcomes])
    return {"score_ci": bounds(interval),
            "hoeffding_halfwidth": round(hoeffding_halfwidth(len(result.outcomes), value_range=value_range), 6)}
