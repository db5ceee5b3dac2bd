"""`selftaught improve`: one improver run on one task, and the returned solution's val and test scores."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.api._improve import run_improve
from selftaught.api._setup import read_improver, read_program
from selftaught.cli._common import Reporter, add_formulation_flags, add_run_flags, config_from, emit
from selftaught.stop.formulations import describe_line
from selftaught.tasks import get_task


def register(sub: Any) -> None:
    p = sub.add_parser("improve", help="run an improver (default: the seed improver I_0) once on a task")
    p.add_argument("task", help="task name, alias or task file")
    p.add_argument("--solution", metavar="FILE", help="initial solution (default: the task's seed)")
    p.add_argument("--improver", metavar="NAME|FILE",
                   help="improver file, or a library improver's name (selftaught improvers; default: seed, I_0)")
    add_run_flags(p)
    add_formulation_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = config_from(args)
    get_task(args.task)  # an unknown task is named before the files are read
    solution = read_program(args.solution, "solution") if args.solution else None
    improver = read_improver(args.improver) if args.improver else None
    result = run_improve(config, Reporter(args.json), args.task, solution=solution, solution_name=args.solution or "",
                         improver=improver, improver_name=args.improver or "")
    data = result.to_dict()
    if result.solution is None:
        human = f"the improver failed: {result.failure}\n{str(data['detail']).strip()[-800:]}"
    else:
        human = (f"{result.solution.rstrip()}\n\n# {data['task']}: val {result.score_val:.4f} (initial "
                 f"{data['initial_score_val']:.4f}), test {result.score_test:.4f}; {data['lm_calls']} LM calls, "
                 f"{data['utility_calls']} utility calls")
        if line := describe_line(data["formulation"]):
            human += f"\n# {line}"
    emit(args.json, data, human)
    return 0 if result.failure is None else 1
