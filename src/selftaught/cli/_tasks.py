"""`selftaught tasks`: the built-in tasks, their descriptions and split sizes."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.api._setup import task_line
from selftaught.cli._common import add_output_flags, emit
from selftaught.tasks import builtin_tasks


def register(sub: Any) -> None:
    p = sub.add_parser("tasks", help="list the built-in tasks")
    add_output_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
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
        }
        for task in builtin_tasks().values()
    ]
    lines = [f"{'task':<32} {'val':>4} {'test':>5} {'limit':>7}  description"]
    for r in rows:
        lines.append(f"{r['name']:<32} {r['splits']['val']:>4} {r['splits']['test']:>5} "
                     f"{r['time_limit']:>6g}s  {r['summary']}")
        lines.extend(f"{'':<32} known hole: {hole}" for hole in r["known_holes"])
    lines.append("Alias: lpn = parity_noise. A task file: --task path/to/mytask.py (see docs/tasks.md).")
    emit(args.json, {"tasks": rows}, "\n".join(lines))
    return 0
