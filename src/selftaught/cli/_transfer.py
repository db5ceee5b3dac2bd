"""`selftaught transfer`: an improver on other tasks, against the seed improver (the paper's table)."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.cli._common import (
    Reporter,
    add_run_flags,
    backend_warnings,
    config_from,
    emit,
    read_program,
    require_entrypoint,
    sandbox_record,
    services_for,
)
from selftaught.improver import seed_improver
from selftaught.stop.transfer import transfer
from selftaught.tasks import get_task


def register(sub: Any) -> None:
    p = sub.add_parser("transfer", help="evaluate an improver on other tasks against the seed improver")
    p.add_argument("improver", help="improver file (e.g. improvers/I_3.py of a run)")
    p.add_argument("--tasks", dest="transfer_tasks", help="comma-separated tasks (default: the paper's five)")
    add_run_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = config_from(args)
    improver = read_program(args.improver, "improver")
    require_entrypoint(improver, "improve_algorithm", args.improver)
    tasks = [get_task(name) for name in config.transfer_tasks]
    reporter = Reporter(args.json)
    services = services_for(config, reporter)
    rows = transfer(services, improver, seed_improver(), tasks)
    lines = ["test split, percent (val in parentheses)",
             f"{'task':<32} {'u(s)':>14} {'I_0':>14} {'improver':>14}"]
    for r in rows:
        lines.append(
            f"{r.task:<32} {100 * r.seed_utility:>6.1f} ({100 * r.seed_utility_val:>5.1f})"
            f" {100 * r.meta_utility_seed_improver:>6.1f} ({100 * r.meta_utility_seed_improver_val:>5.1f})"
            f" {100 * r.meta_utility_improver:>6.1f} ({100 * r.meta_utility_improver_val:>5.1f})"
        )
    data = {"improver": args.improver, "rows": [r.record() for r in rows], "counters": dict(services.counters),
            "sandbox": sandbox_record(services.sandbox_choice), "usage": services.usage_report(),
            "split_secret": services.secret.record(), "warnings": backend_warnings(services.backend)}
    for warning in data["warnings"]:
        reporter.warn(warning)
    emit(args.json, data, "\n".join(lines))
    return 0
