"""`selftaught score`: one solution file scored by a task's secret utility on a split."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.cli._common import (
    Reporter,
    add_output_flags,
    add_sandbox_flag,
    emit,
    read_program,
    require_entrypoint,
    sandbox_for,
    sandbox_record,
)
from selftaught.evaluate import evaluate, evaluation_record
from selftaught.tasks import get_task


def register(sub: Any) -> None:
    p = sub.add_parser("score", help="score a solution file on a task split")
    p.add_argument("task", help="task name, alias or task file")
    p.add_argument("solution", help="Python file defining the task's entrypoint")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--seed", type=int, default=0, help="seed of the solution's random state")
    add_sandbox_flag(p)
    add_output_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    program = read_program(args.solution, "solution")
    require_entrypoint(program, task.entrypoint, args.solution)
    reporter = Reporter(args.json)
    choice = sandbox_for(args.sandbox, reporter)
    reporter(f"scoring {args.solution} on {task.name} ({args.split}, {len(task.instances(args.split))} instances)")
    result = evaluate(task, program, args.split, sandbox=choice.sandbox, seed=args.seed)
    record = {**evaluation_record(result), "sandbox": sandbox_record(choice)}
    failures = ", ".join(f"{k}: {v}" for k, v in sorted(result.failures.items())) or "none"
    human = (f"{task.name} [{args.split}] score {result.score:.4f}"
             f"  ({result.n_instances} instances, failures: {failures}, {result.duration:.2f}s)")
    if result.failure:
        human += f"\nprogram failed: {result.failure}: {result.detail.strip().splitlines()[-1:] or ''}"
    emit(args.json, record, human)
    return 0
