"""`selftaught arena`: every improver on every task under the same budgets, ranked, with paired tests (Holm)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from selftaught.api._arena import ArenaResult, improver_refs, run_arena_command, tasks_of
from selftaught.cli._common import Reporter, add_formulation_flags, add_run_flags, config_from, emit
from selftaught.cli._estimate import add_estimate_flags, gate
from selftaught.forecast import estimate_arena
from selftaught.stop.formulations import describe_line

REF_HELP = ("a library name (`seed` is I_0; see `selftaught improvers`), an improver file, RUN_DIR:I_t, or RUN_DIR "
            "(its last improver)")


def register(sub: Any) -> None:
    p = sub.add_parser("arena", help="every improver on every task under the same budgets: a leaderboard with "
                                     "intervals and paired tests")
    p.add_argument("files", nargs="*", metavar="IMPROVER", help=f"improvers: {REF_HELP}")
    p.add_argument("--improvers", metavar="A,B,...", help=f"comma-separated improvers ({REF_HELP}), before FILES")
    p.add_argument("--tasks", metavar="A,B,...", help="comma-separated tasks (default: --task, or the config's)")
    p.add_argument("--out", metavar="FILE", help="the results file (default RUNS_DIR/arena-<key>.json); its "
                                                  "report is written beside it (.md and .html)")
    add_run_flags(p, task=True)
    add_formulation_flags(p)
    add_estimate_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    named = [r.strip() for r in (args.improvers or "").split(",") if r.strip()]
    refs = improver_refs([*named, *args.files])
    config = config_from(args)
    tasks = tasks_of(config, [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None)
    reporter = Reporter(args.json)
    programs = {r.ref: r.program for r in refs}
    if (code := gate(args, config, lambda latency: estimate_arena(config, programs, tasks, latency=latency),
                     reporter)) is not None:  # --estimate, or a priced model not approved
        return code
    result = run_arena_command(config, reporter, refs, tasks, out=Path(args.out) if args.out else None)
    emit(args.json, result.to_dict(), _table(result))
    return 0


def _table(found: ArenaResult) -> str:
    arena = found.arena
    lines = []
    for task in arena.tasks:
        lines.append(f"{task} (test meta-utility, 95% intervals):")
        for rank, s in enumerate(arena.leaderboard(task), start=1):
            failed = f"  ({s.failed_runs}/{s.runs} runs failed)" if s.failed_runs else ""
            lines.append(f"  {rank}. {s.test.mean:.4f} [{s.test.low:.4f}, {s.test.high:.4f}]  {s.improver}{failed}")
    if len(arena.tasks) > 1:
        lines.append("over the tasks (mean test, mean rank):")
        lines += [f"  {name}: {mean:.4f}, rank {rank:.2f}" for name, mean, rank in arena.overall()]
    if arena.pairs:
        lines.append("pairs (B - A on test; Holm over all pairs):")
        lines += [f"  {p.task}: {p.b} vs {p.a}: {p.verdict()}" for p in arena.pairs]
    if line := describe_line(found.data.get("formulation") or {}):
        lines.append(line)
    lines.append(f"results: {found.path}")
    return "\n".join(lines)
