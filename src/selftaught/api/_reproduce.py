"""`reproduce` from the API's side: the plan from the settings given, and the study carried out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from selftaught.api._reporting import Reporter
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.forecast import Estimate, estimate_reproduce
from selftaught.study import ReproduceResult, StudyPlan, reproduce_study

#: The paper's study: five seeds, three iterations (its figure shows T = 3), 100 samples per sandbox-flag study.
DEFAULT_SEEDS = 5
DEFAULT_ITERATIONS = 3
DEFAULT_SANDBOX_SAMPLES = 100
MAX_SEEDS = 100


def plan_of(config: Config, *, seeds: int, iterations: int | None, sandbox_samples: int) -> StudyPlan:
    """The study `config` and the counts describe (iterations: given, else the paper's T = 3)."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"--seeds must be an integer from 1 to {MAX_SEEDS} (got {seeds!r})")
    if isinstance(sandbox_samples, bool) or not isinstance(sandbox_samples, int) or sandbox_samples < 1:
        raise UserError(f"--sandbox-samples must be a positive integer (got {sandbox_samples!r})")
    return StudyPlan(seeds=tuple(config.seed + k for k in range(seeds)),
                     iterations=DEFAULT_ITERATIONS if iterations is None else iterations, task=config.task,
                     transfer_tasks=tuple(config.transfer_tasks), sandbox_samples=sandbox_samples)


def plan_estimate(config: Config, plan: StudyPlan, latency: float) -> Estimate:
    """What the study `plan` would ask of the model (`reproduce --estimate`)."""
    return estimate_reproduce(config, seeds=len(plan.seeds), iterations=plan.iterations, task=plan.task,
                              transfer_tasks=list(plan.transfer_tasks), sandbox_samples=plan.sandbox_samples,
                              latency=latency)


def default_out() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        path = Path(f"reproduce-{stamp}" + (f"-{i}" if i else ""))
        if not path.exists():
            return path
    raise UserError("cannot find a free study directory name here: give one with --out")


def run_reproduce(config: Config, reporter: Reporter, *, seeds: int = DEFAULT_SEEDS, iterations: int | None = None,
                  sandbox_samples: int = DEFAULT_SANDBOX_SAMPLES, out: Path | None = None,
                  resume: Path | None = None, given: dict[str, Any] | None = None) -> ReproduceResult:
    if resume is not None:
        return reproduce_study(config, reporter, resume, resume=True, given=given)
    plan = plan_of(config, seeds=seeds, iterations=iterations, sandbox_samples=sandbox_samples)
    return reproduce_study(config, reporter, out or default_out(), plan=plan)
