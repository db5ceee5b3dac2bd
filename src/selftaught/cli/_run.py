"""`selftaught run`: STOP, T rounds of self-improvement of the improver, written to a run directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from selftaught.api._repeats import RepeatsResult, run_repeats
from selftaught.api._run import RunResult, run_once
from selftaught.cli._common import Reporter, add_adoption_flags, add_formulation_flags, add_run_flags, config_from, emit
from selftaught.cli._estimate import add_estimate_flags, gate_run
from selftaught.cli._explain import first_run_notes
from selftaught.cli._runs import iteration_table, usage_line
from selftaught.cli._signals import sigterm_interrupts
from selftaught.config import CONFIG_KEYS
from selftaught.errors import UserError
from selftaught.stop.curves import SPLITS


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="self-improve the seed improver for T iterations (STOP)")
    add_run_flags(p, task=True)
    add_formulation_flags(p, iterate=False)
    p.add_argument("--iterations", type=int, help="T, rounds of self-improvement (paper: 3)")
    p.add_argument("--meta-utility-budget", type=int, dest="meta_utility_budget",
                   help="meta-utility calls per self-improvement step (paper: 25)")
    add_adoption_flags(p)
    p.add_argument("--population", type=int, metavar="N",
                   help="keep up to N improvers and improve one of them each step (default 1: the paper's chain)")
    p.add_argument("--parent", choices=("best", "descendants"),
                   help="which kept improver a step improves: the best measured (default), or the one whose "
                        "descendants measured best on average (the Huxley-Gödel Machine's rule)")
    p.add_argument("--runs-dir", dest="runs_dir", help="where run directories are created (default ./runs)")
    p.add_argument("--repeats", type=int, default=1, metavar="K",
                   help="K independent runs at once (seeds seed..seed+K-1, one LM concurrency limit and one pool of "
                        "workers) and their mean curve (default 1)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run where it stopped, with the config in its manifest "
                        "(replays its finished LM calls and evaluations: the same result as an uninterrupted run)")
    add_estimate_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if (code := gate_run(args)) is not None:  # --estimate, or a priced model not approved
        return code
    reporter = Reporter(args.json)
    command = ["selftaught", *sys.argv[1:]]
    with sigterm_interrupts():
        if args.repeats != 1:
            if args.resume:
                raise UserError("--resume continues one run: it cannot be combined with --repeats")
            repeats = run_repeats(config_from(args), reporter, args.repeats, command=command)
            emit(args.json, repeats.to_dict(), _repeats_text(repeats))
            return 0
        if args.resume:
            given = {key: getattr(args, key, None) for key in CONFIG_KEYS}
            result = run_once(None, reporter, resume=Path(args.resume), given=given, config_file=args.config,
                              command=command)
        else:
            config = config_from(args)
            result = run_once(config, reporter, command=command)
    emit(args.json, result.to_dict(), "\n".join(run_lines(result) + first_run_notes(result)))
    return 0


def run_lines(result: RunResult) -> list[str]:
    final = result.summary
    lines = [f"run directory: {result.run_dir}", *iteration_table(final["iterations"]), usage_line(final["usage"])]
    if final["stopped"]:
        lines.append(f"stopped early: {final['stopped']}")
    return lines


def _repeats_text(result: RepeatsResult) -> str:
    record = result.to_dict()
    tables = ["\n".join(run_lines(run)) for run in result.runs]
    seeds = record["seeds"]
    lines = [f"mean over {len(record['runs'])} runs (seeds {seeds[0]}..{seeds[-1]}): meta-utility per iteration, "
             "95% bootstrap interval over the runs, std, min..max",
             f"{'iteration':<10} " + "  ".join(f"{split + ' mean [95%]':>24} {'std':>6} {'min..max':>13}"
                                                for split in SPLITS) + f" {'runs':>5}"]
    for point in record["curve"]:
        cells = [f"{p['mean']:>7.4f} [{p['low']:.4f}, {p['high']:.4f}] {p['std']:>6.4f} {p['min']:.4f}..{p['max']:.4f}"
                 for p in (point[split] for split in SPLITS)]
        lines.append(f"I_{point['iteration']:<8} " + "  ".join(cells) + f" {point['val']['n']:>5}")
    lines.append(f"runs: {', '.join(r['run_dir'] for r in record['runs'])}")
    lines.append(f"saved: {record['path']}")
    return "\n\n".join([*tables, "\n".join(lines)])
