"""`selftaught compare A B`: is improver B better than A? A paired test on the same instances and run seeds."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.cli._common import (
    Reporter,
    add_run_flags,
    backend_warnings,
    config_from,
    emit,
    sandbox_record,
    services_for,
)
from selftaught.cli._estimate import add_estimate_flags, gate_compare
from selftaught.cli._refs import ImproverRef, resolve
from selftaught.errors import UserError
from selftaught.stop.compare import SPLITS, Comparison, compare_improvers
from selftaught.tasks import Task, get_task

REF_HELP = "an improver file, RUN_DIR:I_t (RUN_DIR:I_T or RUN_DIR:last for the run's last one), or RUN_DIR (its last)"


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help="compare two improvers on the same instances and downstream seeds")
    p.add_argument("a", metavar="A", help=f"the baseline: {REF_HELP}")
    p.add_argument("b", metavar="B", help=f"the challenger: {REF_HELP}")
    p.add_argument("--split", choices=SPLITS, default="test", help="the split the solutions are scored on (test)")
    add_run_flags(p, task=True)
    add_estimate_flags(p)
    p.set_defaults(handler=handle)


def _task(args: argparse.Namespace, refs: list[ImproverRef]) -> Task:
    """--task if given, else the task of the run(s) A and B come from, else the configured default."""
    if args.task is None:
        tasks = {ref.run_task for ref in refs if ref.run_task is not None}
        if len(tasks) > 1:
            raise UserError(f"A and B come from runs on different tasks ({', '.join(sorted(tasks))}): "
                            "choose one with --task")
        if tasks:
            args.task = tasks.pop()
    return get_task(config_from(args).task)


def handle(args: argparse.Namespace) -> int:
    refs = [resolve(args.a), resolve(args.b)]
    task = _task(args, refs)
    config = config_from(args)
    reporter = Reporter(args.json)
    if (code := gate_compare(args, config, refs[0].program, refs[1].program, task, reporter)) is not None:
        return code
    services = services_for(config, reporter)
    try:
        result = compare_improvers(services, task, refs[0].program, refs[1].program, split=args.split)
    finally:
        services.close()
    data = {"improvers": {"a": _ref_record(refs[0]), "b": _ref_record(refs[1])}, **result.record(), "seed": config.seed,
            "counters": dict(services.counters), "sandbox": sandbox_record(services.sandbox_choice),
            "usage": services.usage_report(), "split_secret": services.secret.record(),
            "warnings": [*backend_warnings(services.backend), *_secret_warnings(refs, services.secret.fingerprint),
                         *result.failure_notes(only_broken=True)]}
    for warning in data["warnings"]:
        reporter.warn(warning)
    emit(args.json, data, _table(result, refs))
    return 0


def _secret_warnings(refs: list[ImproverRef], fingerprint: str) -> list[str]:
    """A run measured on other instances than these (another split secret): the comparison still holds here."""
    return [f"{ref.ref} comes from a run with another split secret ({ref.run_secret}; here {fingerprint}): both "
            "improvers are compared on this secret's instances, not those the run measured on"
            for ref in refs if ref.run_secret is not None and ref.run_secret != fingerprint]


def _ref_record(ref: ImproverRef) -> dict[str, Any]:
    return {"ref": ref.ref, "path": str(ref.path), "run_task": ref.run_task}


def _table(result: Comparison, refs: list[ImproverRef]) -> str:
    lines = [f"{result.task}, {result.split} split: {len(result.runs_a)} paired downstream runs x "
             f"{result.instances} instances (95% intervals, nested bootstrap)"]
    for name, ref, interval in (("A", refs[0], result.a), ("B", refs[1], result.b)):
        lines.append(f"{name}  {interval.mean:.4f} [{interval.low:.4f}, {interval.high:.4f}]  {ref.ref}")
    d = result.difference
    lines.append(f"B - A  {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]  p = {result.p_value:.4g} "
                 "(sign-flip test over the runs' differences)")
    lines.extend(result.failure_notes())
    lines.append(result.verdict())
    return "\n".join(lines)
