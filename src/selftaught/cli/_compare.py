"""`selftaught compare A B`: is improver B better than A? A paired test on the same instances and run seeds."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.api._compare import CompareResult, run_compare, task_of
from selftaught.api._refs import resolve
from selftaught.cli._common import Reporter, add_formulation_flags, add_run_flags, config_from, emit
from selftaught.cli._estimate import add_estimate_flags, gate_compare
from selftaught.stop.compare import SPLITS
from selftaught.stop.formulations import describe_line
from selftaught.tasks import get_task

REF_HELP = "an improver file, RUN_DIR:I_t (RUN_DIR:I_T or RUN_DIR:last for the run's last one), or RUN_DIR (its last)"


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help="compare two improvers on the same instances and downstream seeds")
    p.add_argument("a", metavar="A", help=f"the baseline: {REF_HELP}")
    p.add_argument("b", metavar="B", help=f"the challenger: {REF_HELP}")
    p.add_argument("--split", choices=SPLITS, default="test", help="the split the solutions are scored on (test)")
    add_run_flags(p, task=True)
    add_formulation_flags(p)
    add_estimate_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    refs = [resolve(args.a), resolve(args.b)]
    config = task_of(config_from(args), refs, task_given=args.task is not None)
    reporter = Reporter(args.json)
    if (code := gate_compare(args, config, refs[0].program, refs[1].program, get_task(config.task),
                             reporter)) is not None:  # --estimate, or a priced model not approved
        return code
    result = run_compare(config, reporter, refs[0], refs[1], split=args.split)
    emit(args.json, result.to_dict(), _table(result))
    return 0


def _table(found: CompareResult) -> str:
    result, refs = found.comparison, (found.a, found.b)
    lines = [f"{result.task}, {result.split} split: {len(result.runs_a)} paired downstream runs x "
             f"{result.instances} instances (95% intervals, nested bootstrap)"]
    for name, ref, interval in (("A", refs[0], result.a), ("B", refs[1], result.b)):
        lines.append(f"{name}  {interval.mean:.4f} [{interval.low:.4f}, {interval.high:.4f}]  {ref.ref}")
    d = result.difference
    lines.append(f"B - A  {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]  p = {result.p_value:.4g} "
                 "(sign-flip test over the runs' differences)")
    if line := describe_line(found.data.get("formulation") or {}):
        lines.append(line)
    lines.extend(result.failure_notes())
    lines.append(result.verdict())
    return "\n".join(lines)
