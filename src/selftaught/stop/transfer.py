"""Transfer: an improver, with no further self-improvement, on other tasks vs the seed improver."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from selftaught.broker import Services
from selftaught.stats import bootstrap_ci, bounds
from selftaught.stop.meta_utility import MetaUtility
from selftaught.tasks import Task


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


def transfer(services: Services, improver: str, seed_improver: str, tasks: Sequence[Task]) -> list[TransferRow]:
    """For each task: u(seed solution), meta-utility of I_0, meta-utility of `improver`.

    Every task, and both improvers on it, are measured at once: the work waits on the LM (bounded
    by `concurrency`) and on evaluations (bounded by the executor's `workers`); the rows are the
    same as one at a time, since every downstream run draws from its own stream.
    """

    def row(task: Task) -> TransferRow:
        services.progress(f"[{task.name}] scoring the seed solution")
        seed_val = services.evaluate(task, task.seed_solution, "val", purpose="transfer").score
        seed_eval = services.evaluate(task, task.seed_solution, "test", purpose="transfer")
        meta = MetaUtility(services, [task])
        with ThreadPoolExecutor(max_workers=2) as pool:
            base_f = pool.submit(meta.score, seed_improver, purpose="transfer", with_test=True,
                                 label=f"[{task.name}] I_0 ")
            new_f = pool.submit(meta.score, improver, purpose="transfer", with_test=True,
                                label=f"[{task.name}] improver ")
            base, new = base_f.result(), new_f.result()
        seed_ci = bootstrap_ci([o.score for o in seed_eval.outcomes]) if seed_eval.outcomes else None
        return TransferRow(task.name, seed_eval.score, base.test or 0.0, new.test or 0.0, seed_val, base.val, new.val,
                           bounds(seed_ci), bounds(base.interval("test")), bounds(new.interval("test")))

    with ThreadPoolExecutor(max_workers=max(1, len(tasks))) as pool:
        return list(pool.map(row, tasks))
