"""`selftaught reproduce`: the paper's study (K seeds of STOP, transfer, safety) in one directory, with its report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from selftaught.api._reproduce import DEFAULT_SANDBOX_SAMPLES, DEFAULT_SEEDS, plan_estimate, plan_of, run_reproduce
from selftaught.cli._common import Reporter, add_adoption_flags, add_formulation_flags, add_run_flags, config_from, emit
from selftaught.cli._estimate import add_estimate_flags, gate
from selftaught.cli._signals import sigterm_interrupts
from selftaught.config import CONFIG_KEYS
from selftaught.errors import UserError
from selftaught.study import ReproduceResult


def register(sub: Any) -> None:
    p = sub.add_parser("reproduce", help="the paper's study in one command: K seeds of STOP, transfer, safety, report")
    add_run_flags(p, task=True)
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, metavar="K",
                   help=f"seeds of STOP, run at once (default {DEFAULT_SEEDS}, the paper's)")
    p.add_argument("--iterations", type=int, help="T, rounds of self-improvement per seed (default 3, the paper's)")
    p.add_argument("--meta-utility-budget", type=int, dest="meta_utility_budget",
                   help="meta-utility calls per self-improvement step (paper: 25)")
    add_adoption_flags(p)
    add_formulation_flags(p, iterate=False)
    p.add_argument("--tasks", dest="transfer_tasks", help="transfer tasks, comma-separated (default: the paper's five)")
    p.add_argument("--sandbox-samples", type=int, default=DEFAULT_SANDBOX_SAMPLES, dest="sandbox_samples",
                   help=f"generated improvers per sandbox-flag study, with and without the warning "
                        f"(default {DEFAULT_SANDBOX_SAMPLES})")
    p.add_argument("--out", metavar="DIR", help="the study directory (default ./reproduce-<time>)")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the study in DIR: finished runs, rows and results are reused, stopped runs resumed")
    add_estimate_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    reporter = Reporter(args.json)
    with sigterm_interrupts():
        if args.resume:
            if args.estimate:
                raise UserError("--estimate prices a new study; --resume goes on with the one in DIR")
            if args.out or args.config:
                raise UserError("--resume DIR continues the study there with its own settings: give no --out or "
                                "--config with it")
            given = {key: getattr(args, key, None) for key in CONFIG_KEYS}
            result = run_reproduce(config_from(args), reporter, resume=Path(args.resume), given=given)
        else:
            config = config_from(args)
            plan = plan_of(config, seeds=args.seeds, iterations=args.iterations, sandbox_samples=args.sandbox_samples)

            if (code := gate(args, config, lambda latency: plan_estimate(config, plan, latency),
                             reporter)) is not None:  # --estimate, or not approved
                return code
            result = run_reproduce(config, reporter, seeds=args.seeds, iterations=args.iterations,
                                   sandbox_samples=args.sandbox_samples, out=Path(args.out) if args.out else None)
    emit(args.json, result.to_dict(), study_text(result))
    return 0


def study_text(result: ReproduceResult) -> str:
    record = result.record
    lines = [f"study: {result.out} ({record['status']}; {len(record['runs'])} of {len(record['seeds'])} seeds' runs)",
             "", f"meta-utility of I_t on {record['task']}, mean over seeds [95% interval over seeds]"]
    for point in record["curve"]:
        val, test = point["val"], point["test"]
        lines.append(f"  I_{point['iteration']:<3} val {val['mean']:.4f} [{val['low']:.4f}, {val['high']:.4f}]   "
                     f"test {test['mean']:.4f} [{test['low']:.4f}, {test['high']:.4f}]   seeds {val['n']}")
    transfer = record.get("transfer")
    if transfer:
        lines += ["", "transfer, test percent (val in parentheses), mean over seeds",
                  f"  {'task':<32} {'u(s)':>14} {'I_0':>14} {'I_T':>14}"]
        for row in transfer["rows"]:
            cells = " ".join(f"{100 * row[c]['test']['mean']:>6.1f} ({100 * row[c]['val']['mean']:>5.1f})"
                             for c in ("seed_utility", "I_0", "I_T"))
            lines.append(f"  {row['task']:<32} {cells}")
    flag = record["safety"]["sandbox_flag"]
    for key, words in (("warn", "with the warning"), ("nowarn", "without the warning")):
        found = flag.get(key)
        if found:
            low, high = 100 * found["ci_low"], 100 * found["ci_high"]
            lines.append(f"sandbox flag turned off {words}: {found['disabled']} of {found['samples']} "
                         f"({100 * found['rate']:.2f}%, 95% CI {low:.2f}-{high:.2f}%)")
    if record["strategies"]:
        tags = ", ".join(f"{k} {v}" for k, v in record["strategies"].items())
        lines.append(f"strategies of the final improvers: {tags}")
    total = record["usage"]["total"]
    lines.append(f"LM usage: {total['calls']} calls, {total['input_tokens']} input and {total['output_tokens']} output "
                 f"tokens, ${float(total['cost_usd']):.4f}")
    if record["stopped"]:
        lines.append(f"stopped early: {record['stopped']}; continue it: selftaught reproduce --resume {result.out}")
    for fmt, path in result.reports.items():
        lines.append(f"report ({fmt}): {path}")
    lines.append(f"record: {result.out / 'reproduce.json'}")
    return "\n".join(lines)
