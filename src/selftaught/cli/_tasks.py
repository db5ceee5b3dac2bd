"""`selftaught tasks`: the built-in tasks, their descriptions and split sizes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from selftaught.api._setup import task_line
from selftaught.cli._common import add_output_flags, emit
from selftaught.errors import UserError
from selftaught.tasks import builtin_tasks, get_task
from selftaught.tasks._groups import GROUP_TITLES, GROUPS, group_of


def register(sub: Any) -> None:
    p = sub.add_parser("tasks", help="list the built-in tasks (or write one's seed solution: --seed TASK)")
    p.add_argument("--seed", metavar="TASK", dest="seed_of",
                   help="write TASK's seed solution (the program improvement starts from) to --out, or print it")
    p.add_argument("--out", metavar="FILE", help="with --seed: the file to write (refuses to overwrite one)")
    add_output_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.seed_of is not None:
        return _seed(args)
    if args.out:
        raise UserError("--out goes with --seed TASK (the file its seed solution is written to)")
    rows: list[dict[str, Any]] = [
        {
            "name": task.name,
            "summary": task_line(task),
            "entrypoint": task.entrypoint,
            "splits": dict(task.split_sizes),
            "time_limit": task.time_limit,
            "failure_score": task.failure_score,
            "max_score": task.max_score,
            "known_holes": list(task.known_holes),
            "group": group_of(task.name),
        }
        for task in builtin_tasks().values()
    ]
    lines = []
    for group, names in GROUPS.items():
        lines.append(f"{group} ({GROUP_TITLES[group]}):")
        lines.append(f"  {'task':<30} {'val':>4} {'test':>5} {'limit':>7}  description")
        for r in (r for r in rows if r["name"] in names):
            lines.append(f"  {r['name']:<30} {r['splits']['val']:>4} {r['splits']['test']:>5} "
                         f"{r['time_limit']:>6g}s  {r['summary']}")
            lines.extend(f"  {'':<30}  known hole: {hole}" for hole in r["known_holes"])
    lines.append("Alias: lpn = parity_noise. A group name (paper, benchmarks) stands for its tasks wherever tasks are "
                 "listed (transfer --tasks, reproduce --tasks, arena --tasks). A task file: --task path/to/mytask.py "
                 "(see docs/tasks.md).")
    emit(args.json, {"tasks": rows, "groups": {g: list(n) for g, n in GROUPS.items()}}, "\n".join(lines))
    return 0


def _seed(args: argparse.Namespace) -> int:
    task = get_task(args.seed_of)
    data: dict[str, Any] = {"task": task.name, "entrypoint": task.entrypoint, "path": args.out}
    if args.out:
        path = Path(args.out)
        try:
            with open(path, "x", encoding="utf-8") as f:
                f.write(task.seed_solution)
        except FileExistsError:
            raise UserError(f"{path} exists: give --out a new file") from None
        except OSError as exc:
            raise UserError(f"cannot write {path} ({exc.strerror})") from None
        emit(args.json, data, f"wrote the seed solution of {task.name} to {path} (score it: selftaught score "
                              f"{task.name} {path}; improve it: selftaught improve {task.name} --solution {path})")
        return 0
    emit(args.json, {**data, "solution": task.seed_solution}, task.seed_solution)
    return 0
