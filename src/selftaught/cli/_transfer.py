"""`selftaught transfer`: an improver on other tasks, against the seed improver (the paper's table)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from selftaught.api._setup import read_improver
from selftaught.api._transfer import TransferResult, resume_transfer, run_transfer
from selftaught.cli._common import Reporter, add_formulation_flags, add_run_flags, config_from, emit
from selftaught.cli._estimate import add_estimate_flags, gate_transfer
from selftaught.cli._signals import sigterm_interrupts
from selftaught.config import CONFIG_KEYS
from selftaught.errors import UserError
from selftaught.stop.formulations import describe_line
from selftaught.tasks import get_task


def register(sub: Any) -> None:
    p = sub.add_parser("transfer", help="evaluate an improver on other tasks against the seed improver")
    p.add_argument("improver", nargs="?",
                   help="improver file (e.g. improvers/I_3.py of a run) or a library improver's name "
                        "(selftaught improvers)")
    p.add_argument("--tasks", dest="transfer_tasks", help="comma-separated tasks (default: the paper's five)")
    p.add_argument("--out", metavar="FILE",
                   help="where each task's row is saved as it is finished (the --json object; default: "
                        "RUNS_DIR/transfer-<improver>-<key>.json, the key naming the improver, config and split "
                        "secret); run the same command again (after Ctrl-C, say) and the rows saved there are reused")
    p.add_argument("--resume", metavar="FILE",
                   help="continue the transfer whose results file this is, with the improver, config and tasks it "
                        "was run with (its finished rows are kept)")
    add_run_flags(p)
    add_formulation_flags(p)
    add_estimate_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    reporter = Reporter(args.json)
    with sigterm_interrupts():
        if args.resume:
            if args.estimate:
                raise UserError("--estimate prices a new transfer; --resume goes on with the saved one")
            if args.improver or args.out or args.config:
                raise UserError("--resume FILE continues the transfer saved there: give no improver, --out or "
                                "--config with it")
            given = {key: getattr(args, key, None) for key in CONFIG_KEYS}
            result = resume_transfer(Path(args.resume), reporter, given)
        else:
            if not args.improver:
                raise UserError("transfer needs an improver file (or --resume FILE)")
            config = config_from(args)
            improver = read_improver(args.improver)
            tasks = [get_task(name) for name in config.transfer_tasks]
            if (code := gate_transfer(args, config, improver, tasks, reporter)) is not None:  # --estimate
                return code
            result = run_transfer(config, reporter, args.improver, improver,
                                  out=Path(args.out) if args.out else None)
    emit(args.json, result.to_dict(), transfer_table(result))
    return 0


def transfer_table(result: TransferResult) -> str:
    lines = ["test split, percent (val in parentheses)",
             f"{'task':<32} {'u(s)':>14} {'I_0':>14} {'improver':>14}"]
    for r in result.rows:
        lines.append(
            f"{r.task:<32} {100 * r.seed_utility:>6.1f} ({100 * r.seed_utility_val:>5.1f})"
            f" {100 * r.meta_utility_seed_improver:>6.1f} ({100 * r.meta_utility_seed_improver_val:>5.1f})"
            f" {100 * r.meta_utility_improver:>6.1f} ({100 * r.meta_utility_improver_val:>5.1f})"
        )
    if line := describe_line(result.data.get("formulation") or {}):
        lines.append(line)
    lines.append(f"saved: {result.path}")
    return "\n".join(lines)
