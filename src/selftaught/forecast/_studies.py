"""The estimate of each command (`run`, `transfer`, `compare`, `arena`, `safety sandbox-flag`) and of the `reproduce`
study."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.forecast._plan import PartPlan, plan_arena, plan_compare, plan_run, plan_sandbox_flag, plan_transfer
from selftaught.forecast._result import Estimate, assemble
from selftaught.tasks import Task, get_task

#: Seconds one LM request is taken to take when none is given (a reply of a thousand tokens or so).
DEFAULT_LATENCY = 10.0


def _latency(latency: float) -> float:
    if not isinstance(latency, (int, float)) or isinstance(latency, bool) or not math.isfinite(latency) \
            or latency <= 0:
        raise UserError(f"--latency must be a positive number of seconds (got {latency!r})")
    return float(latency)


def _tasks(names: Sequence[str | Task]) -> list[Task]:
    return [name if isinstance(name, Task) else get_task(name) for name in names]


def estimate_run(config: Config, task: Task | str | None = None, *, repeats: int = 1,
                 latency: float = DEFAULT_LATENCY) -> Estimate:
    """`selftaught run [--repeats K]`: STOP on `task` (default `config.task`) for `config.iterations` steps."""
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1 (got {repeats})")
    (found,) = _tasks([task if task is not None else config.task])
    plan = dataclasses.replace(plan_run(config, found), repeats=repeats)
    return assemble("run", [plan], config, _latency(latency))


def estimate_transfer(config: Config, improver: str, tasks: Sequence[Task | str] | None = None, *,
                      latency: float = DEFAULT_LATENCY) -> Estimate:
    """`selftaught transfer IMPROVER`: `improver` (its text) and the seed improver on `tasks` (default
    `config.transfer_tasks`)."""
    found = _tasks(tasks if tasks is not None else config.transfer_tasks)
    return assemble("transfer", [plan_transfer(config, improver, found)], config, _latency(latency))


def estimate_compare(config: Config, a: str, b: str, task: Task | str | None = None, *,
                     latency: float = DEFAULT_LATENCY) -> Estimate:
    """`selftaught compare A B`: both improvers' (their texts) downstream runs on `task` (default `config.task`)."""
    (found,) = _tasks([task if task is not None else config.task])
    return assemble("compare", [plan_compare(config, a, b, found)], config, _latency(latency))


def estimate_arena(config: Config, improvers: Mapping[str, str], tasks: Sequence[Task | str] | None = None, *,
                   latency: float = DEFAULT_LATENCY) -> Estimate:
    """`selftaught arena`: every improver (name -> program) on every task (default `config.task`), at once."""
    found = _tasks(tasks if tasks is not None else [config.task])
    return assemble("arena", [plan_arena(config, improvers, found)], config, _latency(latency))


def estimate_sandbox_flag(config: Config, samples: int, *, warn: bool = True,
                          latency: float = DEFAULT_LATENCY) -> Estimate:
    """`selftaught safety sandbox-flag --samples N [--warn/--no-warn]` on `config.lm`."""
    return assemble("sandbox-flag", [plan_sandbox_flag(config, samples, warn)], config, _latency(latency))


def reproduce_plans(config: Config, *, seeds: int, iterations: int, task: Task | str | None = None,
                    transfer_tasks: Sequence[Task | str] | None = None, sandbox_samples: int = 0) -> list[PartPlan]:
    """The parts of the paper's study: `seeds` runs of `iterations` steps on `task`, the transfer of each run's I_0
    and I_T to `transfer_tasks`, and the sandbox-flag study with and without the warning (`sandbox_samples` each;
    0: not made)."""
    if seeds < 1:
        raise UserError(f"seeds must be at least 1 (got {seeds})")
    cfg = dataclasses.replace(config, iterations=iterations)
    (found,) = _tasks([task if task is not None else cfg.task])
    others = _tasks(transfer_tasks if transfer_tasks is not None else cfg.transfer_tasks)
    plans = [dataclasses.replace(plan_run(cfg, found), repeats=seeds)]
    if others:
        transfer = plan_transfer(cfg, None, others)  # I_T is not known yet (it may be I_0 itself)
        plans.append(dataclasses.replace(transfer, name=f"{transfer.name} (I_0 and I_T of each run)", repeats=seeds))
    if sandbox_samples:
        plans += [plan_sandbox_flag(cfg, sandbox_samples, True), plan_sandbox_flag(cfg, sandbox_samples, False)]
    return plans


def estimate_reproduce(config: Config, *, seeds: int, iterations: int, task: Task | str | None = None,
                       transfer_tasks: Sequence[Task | str] | None = None, sandbox_samples: int = 0,
                       latency: float = DEFAULT_LATENCY) -> Estimate:
    """The whole `reproduce` study (see `reproduce_plans`), per part and in total."""
    plans = reproduce_plans(config, seeds=seeds, iterations=iterations, task=task, transfer_tasks=transfer_tasks,
                            sandbox_samples=sandbox_samples)
    return assemble("reproduce", plans, config, _latency(latency))
