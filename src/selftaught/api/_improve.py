"""`improve`: one improver run on one task, and the returned solution's val and test scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selftaught.api._reporting import Reporter
from selftaught.api._setup import backend_warnings, require_entrypoint, sandbox_record, services_for
from selftaught.broker import TaskUtility
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.improver import seed_improver
from selftaught.stop.formulations import describe, improve_passes, initial_solution, pass_context
from selftaught.store import program_hash
from selftaught.tasks import get_task


@dataclass(frozen=True)
class ImproveResult:
    """The solution the improver returned (None if it failed), its scores, and what `improve --json` prints."""

    solution: str | None
    score_val: float
    score_test: float
    failure: str | None
    data: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def run_improve(config: Config, reporter: Reporter, task_name: str, *, solution: str | None = None,
                solution_name: str = "solution", improver: str | None = None,
                improver_name: str = "improver") -> ImproveResult:
    """Runs `improver` (default I_0) on `task_name` from `solution` (default the task's seed solution; the empty one
    under the maximizer formulation), `config.iterate` times: each pass from the previous pass's solution."""
    task = get_task(task_name)
    if solution is not None and config.maximizer:
        raise UserError("--maximizer starts from the empty solution: give no --solution with it")
    initial = initial_solution(config, task) if solution is None else solution
    if solution is not None:
        require_entrypoint(solution, task.entrypoint, solution_name)
    program = seed_improver() if improver is None else improver
    if improver is not None:
        require_entrypoint(improver, "improve_algorithm", improver_name)
    services = services_for(config, reporter)
    try:
        k = config.iterate
        reporter(f"running the improver on {task.name}{f' {k} times' if k > 1 else ''} (LM budget "
                 f"{config.lm_budget} calls, utility budget {config.utility_budget}{' per pass' if k > 1 else ''})")
        applied = improve_passes(services, program, initial, k, stream="improve",
                                 utility_for=lambda number: TaskUtility(services, task, "val", config.utility_budget,
                                                                        **pass_context(number, k)),
                                 seed_for=lambda stream: _pass_seed(config.seed, stream))
        outcome = applied.final
        score_val = score_test = task.failure_score
        if outcome.solution is not None:
            reporter("scoring the returned solution on val and test")
            score_val = services.evaluate(task, outcome.solution, "val").score
            score_test = services.evaluate(task, outcome.solution, "test").score
        initial_val = services.evaluate(task, initial, "val").score
    finally:
        services.close()
    warnings = backend_warnings(services.backend)
    data = {
        "task": task.name,
        "solution": outcome.solution,
        "score_val": score_val,
        "score_test": score_test,
        "initial_score_val": initial_val,
        "lm_calls": outcome.lm_calls,
        "utility_calls": outcome.utility_calls,
        "failure": outcome.failure,
        "detail": outcome.detail,
        "lm": services.backend.name,
        "duration": round(outcome.duration, 3),
        "formulation": describe(config),
        "passes": applied.record(),
        "sandbox": sandbox_record(services.sandbox_choice),
        "usage": services.usage_report(),
        "split_secret": services.secret.record(),
        "warnings": warnings,
    }
    for warning in warnings:
        reporter.warn(warning)
    return ImproveResult(solution=outcome.solution, score_val=score_val, score_test=score_test,
                         failure=outcome.failure, data=data)


def _pass_seed(seed: int, stream: str) -> int:
    """The worker seed of a pass: the run's seed for the first (as before passes), one drawn from its stream after."""
    return seed if stream == "improve" else int(program_hash(f"{seed}/{stream}"), 16) % (2**31)
