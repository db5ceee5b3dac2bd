"""Transfer: an improver, with no further self-improvement, on other tasks vs the seed improver."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, fields
from functools import partial
from typing import Any, TypeVar

from selftaught.broker import Services
from selftaught.stats import bootstrap_ci, bounds
from selftaught.stop.meta_utility import MetaUtility
from selftaught.tasks import Task, task_source


@dataclass(frozen=True)
class TransferRow:
    """The paper's transfer table row for one task (test split, as the paper reports), with the test figures'
    95% intervals: a bootstrap over instances for u(seed), the nested bootstrap over downstream runs and
    instances for the meta-utilities (see `selftaught.stats`)."""

    task: str
    seed_utility: float
    meta_utility_seed_improver: float
    meta_utility_improver: float
    seed_utility_val: float
    meta_utility_seed_improver_val: float
    meta_utility_improver_val: float
    seed_utility_ci: list[float] | None = None
    meta_utility_seed_improver_ci: list[float] | None = None
    meta_utility_improver_ci: list[float] | None = None

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TransferRow | None:
        """The row a `record()` was made from (None if it is not one: missing, extra or mistyped fields)."""
        names = [f.name for f in fields(cls)]
        if set(record) != set(names) or not isinstance(record.get("task"), str):
            return None
        for name in names[1:7]:
            if not isinstance(record[name], (int, float)) or isinstance(record[name], bool):
                return None
        for name in names[7:]:
            value = record[name]
            if value is not None and not (isinstance(value, list) and len(value) == 2
                                          and all(isinstance(v, (int, float)) for v in value)):
                return None
        return cls(**record)


def task_fingerprint(task: Task) -> str:
    """What identifies a task's code and settings (a task file's bytes, a built-in task's module): a saved row is
    reused only for the same fingerprint."""
    origin = task_source(task)
    code = origin.digest if origin is not None else _module_digest(task)
    blob = json.dumps([task.name, task.description, task.seed_solution, task.entrypoint, dict(task.split_sizes),
                       dict(task.split_seeds), task.time_limit, task.load_time_limit, task.failure_score,
                       task.max_score, code], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _module_digest(task: Task) -> str:
    try:
        path = inspect.getsourcefile(type(task))
        with open(path or "", "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (OSError, TypeError):
        return type(task).__qualname__


T = TypeVar("T")


def _all(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Runs `calls` at once, in threads; interrupted (Ctrl-C) or failing, returns at once without waiting for the
    rest (stop the services to end their work)."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(calls)))
    try:
        futures: list[Future[T]] = [pool.submit(call) for call in calls]
        wait(futures, return_when=FIRST_EXCEPTION)  # the first failure is raised at once, whichever call it is
        results = [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def transfer(services: Services, improver: str, seed_improver: str, tasks: Sequence[Task], *,
             finished: Mapping[str, TransferRow] | None = None,
             on_row: Callable[[Task, TransferRow], None] | None = None) -> list[TransferRow]:
    """For each task: u(seed solution), meta-utility of I_0, meta-utility of `improver`.

    Every task, and both improvers on it, are measured at once: the work waits on the LM (bounded
    by `concurrency`) and on evaluations (bounded by the executor's `workers`); the rows are the
    same as one at a time, since every downstream run draws from its own stream.

    `finished`: rows measured before, by task name (a stopped transfer's): returned as they are, not measured
    again. `on_row`: called with each row as soon as it is finished (from its thread), unless the services are
    stopping (then its runs may have been killed midway). Interrupted, it raises at once without waiting for the
    other tasks: `Services.stop` ends their work.
    """

    def row(task: Task) -> TransferRow:
        services.progress(f"[{task.name}] scoring the seed solution")
        seed_val = services.evaluate(task, task.seed_solution, "val", purpose="transfer").score
        seed_eval = services.evaluate(task, task.seed_solution, "test", purpose="transfer")
        meta = MetaUtility(services, [task])
        base, new = _all([
            lambda: meta.score(seed_improver, purpose="transfer", with_test=True, label=f"[{task.name}] I_0 "),
            lambda: meta.score(improver, purpose="transfer", with_test=True, label=f"[{task.name}] improver "),
        ])
        seed_ci = bootstrap_ci([o.score for o in seed_eval.outcomes]) if seed_eval.outcomes else None
        result = TransferRow(task.name, seed_eval.score, base.test or 0.0, new.test or 0.0, seed_val, base.val,
                             new.val, bounds(seed_ci), bounds(base.interval("test")), bounds(new.interval("test")))
        if on_row is not None and not services.stopping.is_set():
            on_row(task, result)
        return result

    done = dict(finished or {})
    todo = [task for task in tasks if task.name not in done]
    measured = _all([partial(row, task) for task in todo])
    done.update((r.task, r) for r in measured)
    return [done[task.name] for task in tasks]
