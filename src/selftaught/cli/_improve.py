"""`selftaught improve`: one improver run on one task, and the returned solution's val and test scores."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.api._setup import backend_warnings, read_program, require_entrypoint, sandbox_record, services_for
from selftaught.broker import TaskUtility, run_improver
from selftaught.cli._common import Reporter, add_run_flags, config_from, emit
from selftaught.improver import seed_improver
from selftaught.tasks import get_task


def register(sub: Any) -> None:
    p = sub.add_parser("improve", help="run an improver (default: the seed improver I_0) once on a task")
    p.add_argument("task", help="task name, alias or task file")
    p.add_argument("--solution", metavar="FILE", help="initial solution (default: the task's seed)")
    p.add_argument("--improver", metavar="FILE", help="improver file (default: the seed improver I_0)")
    add_run_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = config_from(args)
    task = get_task(args.task)
    initial = task.seed_solution
    if args.solution:
        initial = read_program(args.solution, "solution")
        require_entrypoint(initial, task.entrypoint, args.solution)
    improver = seed_improver()
    if args.improver:
        improver = read_program(args.improver, "improver")
        require_entrypoint(improver, "improve_algorithm", args.improver)
    reporter = Reporter(args.json)
    services = services_for(config, reporter)
    utility = TaskUtility(services, task, "val", config.utility_budget)
    lm = services.language_model("improve", level="task")
    reporter(f"running the improver on {task.name} (LM budget {config.lm_budget} calls, "
             f"utility budget {config.utility_budget})")
    outcome = run_improver(services, improver, initial, utility, lm, seed=config.seed)
    score_val = score_test = task.failure_score
    if outcome.solution is not None:
        reporter("scoring the returned solution on val and test")
        score_val = services.evaluate(task, outcome.solution, "val").score
        score_test = services.evaluate(task, outcome.solution, "test").score
    initial_val = services.evaluate(task, initial, "val").score
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
        "sandbox": sandbox_record(services.sandbox_choice),
        "usage": services.usage_report(),
        "split_secret": services.secret.record(),
        "warnings": warnings,
    }
    for warning in warnings:
        reporter.warn(warning)
    if outcome.solution is None:
        human = f"the improver failed: {outcome.failure}\n{outcome.detail.strip()[-800:]}"
    else:
        human = (f"{outcome.solution.rstrip()}\n\n# {task.name}: val {score_val:.4f} (initial {initial_val:.4f}),"
                 f" test {score_test:.4f}; {outcome.lm_calls} LM calls, {outcome.utility_calls} utility calls")
    emit(args.json, data, human)
    return 0 if outcome.failure is None else 1
