"""`selftaught score`: one solution file scored by a task's secret utility on a split."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught._text import last_line
from selftaught.api._score import run_score, score_interval
from selftaught.api._setup import read_program
from selftaught.cli._common import Reporter, add_output_flags, add_sandbox_flag, add_secret_flag, config_from, emit
from selftaught.evaluate import Evaluation
from selftaught.tasks import REFERENCE_SPLIT, SPLITS, get_task


def register(sub: Any) -> None:
    p = sub.add_parser("score", help="score a solution file on a task split")
    p.add_argument("task", help="task name, alias or task file")
    p.add_argument("solution", help="Python file defining the task's entrypoint")
    p.add_argument("--split", choices=(*SPLITS, REFERENCE_SPLIT), default="val",
                   help="the split to score on (val); reference: the task's published record instances, each "
                   "reported on its own (circle_packing: n = 26 and n = 32)")
    p.add_argument("--seed", type=int, default=0,
                   help="the run's seed: the program's random state is derived from it as in `selftaught run "
                   "--seed`, so the score a run recorded for this program is reproduced (default 0)")
    add_secret_flag(p)
    add_sandbox_flag(p)
    add_output_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config_from(args, ("seed",))  # the same checks as every other command's --seed
    get_task(args.task)  # an unknown task is named before the solution file is read
    program = read_program(args.solution, "solution")
    result = run_score(args.task, program, Reporter(args.json), name=args.solution, split=args.split, seed=args.seed,
                       split_secret=args.split_secret, sandbox=args.sandbox)
    emit(args.json, result.to_dict(), describe_evaluation(result.evaluation, result.data))
    return 0


def describe_evaluation(result: Evaluation, spread: dict[str, Any] | None = None) -> str:
    """Two or three lines for people: the score, what failed (by kind), the first failure's message."""
    head = f"{result.task} [{result.split}] score {result.score:.4f}"
    if result.failure:
        return (f"{head}: the program failed before any instance ran ({result.failure}, {result.duration:.2f}s)\n"
                f"  {last_line(result.detail) or result.failure}")
    failures = ", ".join(f"{k}: {v}" for k, v in sorted(result.failures.items())) or "none"
    spread = spread or score_interval(result)
    interval = ""
    if spread["score_ci"] is not None:
        interval = (f" [95% CI {spread['score_ci'][0]:.4f}, {spread['score_ci'][1]:.4f}; Hoeffding "
                    f"±{spread['hoeffding_halfwidth']:.3f}]")
    lines = [f"{head}{interval}  ({result.n_instances} instances, failures: {failures}, {result.duration:.2f}s)"]
    if result.failures:
        lines.append(f"  first failure: {last_line(result.detail) or '(no message)'}")
    if result.flags:
        lines.append("  reward-hacking flags: " + ", ".join(f"{k}: {v}" for k, v in sorted(result.flags.items())))
    for item in (spread or {}).get("reference", []):
        lines.append(f"  {item['instance']}: score {item['score']:.4f}" + (f" ({item['failure']})" if item["failure"]
                                                                           else ""))
    measure = (spread or {}).get("source_measure")
    if measure and measure.get("value") is not None:
        lines.append(f"  the source's measure: {measure['name']} {measure['value']:.4g} (over {measure['instances']} "
                     f"instances; {measure['note']})")
    if result.deadline_hit:
        lines.append(f"  the evaluation ran out of time (deadline {result.limits.get('deadline', 0):g}s)")
    return "\n".join(lines)

