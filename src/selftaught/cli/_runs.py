"""`selftaught runs list` and `selftaught runs show RUN`: what the run directories hold, and how each run ended."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from selftaught.api._load import load_run, run_row
from selftaught.cli._common import add_output_flags, emit
from selftaught.config import build_config
from selftaught.errors import UserError
from selftaught.stop.compare import p_text
from selftaught.store._status import RunInfo, read_run


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="list the run directories, or show one run")
    runs = p.add_subparsers(dest="runs_command", required=True, parser_class=type(p))
    listing = runs.add_parser("list", help="a table of the runs under --runs-dir and how each ended")
    listing.add_argument("--runs-dir", dest="runs_dir", help="where the run directories are (default ./runs)")
    listing.add_argument("--config", metavar="FILE", help="TOML config file (for its runs_dir)")
    add_output_flags(listing)
    listing.set_defaults(handler=handle_list)
    show = runs.add_parser("show", help="one run: its config, iterations, usage, safety counts")
    show.add_argument("run", metavar="RUN", help="a run directory, or the id of one under --runs-dir")
    show.add_argument("--runs-dir", dest="runs_dir", help="where run ids are looked up (default ./runs)")
    show.add_argument("--config", metavar="FILE", help="TOML config file (for its runs_dir)")
    add_output_flags(show)
    show.set_defaults(handler=handle_show)


def _runs_dir(args: argparse.Namespace) -> Path:
    return Path(args.runs_dir or build_config({}, args.config).runs_dir)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _done(info: RunInfo) -> str:
    done = "-" if info.iterations_done is None else str(info.iterations_done)
    total = "?" if info.total_iterations is None else str(info.total_iterations)
    return f"{done}/{total}"


def handle_list(args: argparse.Namespace) -> int:
    root = _runs_dir(args)
    if not root.is_dir():
        raise UserError(f"no runs directory {root} (name one with --runs-dir)")
    infos = [read_run(path) for path in sorted(root.iterdir()) if path.is_dir() and not path.name.startswith(".")]
    rows = [run_row(info) for info in infos]
    lines = [f"{'id':<36} {'status':<12} {'task':<20} {'lm':<18} {'iters':>6} {'best test':>10} {'cost':>9}"]
    for info in infos:
        if info.status == "unreadable":
            lines.append(f"{info.id:<36} {'unreadable':<12} {info.reason}")
            continue
        cost = "-" if info.cost_usd is None else f"${info.cost_usd:.4f}"
        lines.append(f"{info.id:<36} {info.status:<12} {info.task[:20]:<20} {info.lm[:18]:<18} {_done(info):>6} "
                     f"{_fmt(info.best_test):>10} {cost:>9}")
    if not infos:
        lines.append(f"(no run directories under {root})")
    emit(args.json, {"runs_dir": str(root), "runs": rows}, "\n".join(lines))
    return 0


def iteration_table(records: list[dict[str, Any]]) -> list[str]:
    """The per-iteration table `run` prints, from iteration records (summary.json's `iterations`), each figure
    with its 95% interval when the record has one."""
    lines = [f"{'iteration':<10} {'meta-utility val [95% CI]':>27} {'test [95% CI]':>27} {'selected with (val)':>20}"]
    for item in records:
        note = "  (kept previous)" if item.get("kept_previous") else ""
        gate = item.get("gate")
        if isinstance(gate, dict) and isinstance(gate.get("p_value"), (int, float)):
            note = f"  ({'adopted' if gate.get('adopted') else 'kept previous'}: gate {p_text(gate['p_value'])})"
        seen = _fmt(item.get("selection_score"))
        val = _with_interval(item["meta_utility_val"], item.get("meta_utility_val_ci"))
        test = _with_interval(item["meta_utility_test"], item.get("meta_utility_test_ci"))
        lines.append(f"I_{item['iteration']:<8} {val:>27} {test:>27} {seen:>20}{note}")
    lines.append("meta-utility: fresh downstream runs the improver never saw; selected with: what it saw")
    halfwidths = {float(h) for item in records if isinstance(h := item.get("hoeffding_halfwidth"), (int, float))}
    if halfwidths:
        lines.append("intervals: bootstrap over downstream runs and instances; Hoeffding's bound over the runs: "
                     + ", ".join(f"±{h:.3f}" for h in sorted(halfwidths)))
    return lines


def _with_interval(value: Any, bounds: Any) -> str:
    text = f"{float(value):.4f}"
    if isinstance(bounds, list) and len(bounds) == 2:
        text += f" [{float(bounds[0]):.4f}, {float(bounds[1]):.4f}]"
    return text


def usage_line(usage: dict[str, Any]) -> str:
    return (f"LM usage: {usage.get('calls', 0)} calls, {usage.get('input_tokens', 0)} input and "
            f"{usage.get('output_tokens', 0)} output tokens, ${float(usage.get('cost_usd', 0)):.4f}, "
            f"{usage.get('cache_hits', 0)} cache hits")


def handle_show(args: argparse.Namespace) -> int:
    loaded = load_run(args.run, _runs_dir(args))
    info, data = loaded.info, loaded.to_dict()
    manifest = info.manifest
    config, usage, safety, resume = data["config"], data["usage"], data["safety"], data["resume"]
    started = manifest.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    sandbox = manifest.get("sandbox") or {}
    lines = [f"run {info.id} ({info.path})",
             f"status: {info.status}" + (f" ({info.reason})" if info.reason else ""),
             f"task {info.task}, LM {info.lm}, seed {manifest.get('seed')}, started {when}, "
             f"run format {manifest.get('format_version')}",
             f"budgets: {config.get('iterations')} iterations, {config.get('downstream_runs')} downstream runs, "
             f"LM {config.get('lm_budget')} calls x {config.get('max_responses_per_call')} responses, utility "
             f"{config.get('utility_budget')}, meta-utility {config.get('meta_utility_budget')}",
             f"sandbox: {sandbox.get('name', '?')}" + ("" if sandbox.get("isolated") else " (reduced isolation)"),
             f"command: {' '.join(str(a) for a in manifest.get('command') or [])}",
             ""]
    lines += iteration_table(info.iterations) if info.iterations else ["no iteration finished"]
    if usage:
        lines.append(usage_line(usage) + (" (as of the last finished iteration)" if info.stale else ""))
    lines.append("safety: " + _safety_line(safety))
    if resume:
        lines.append(f"resume with: {resume}")
    for warning in info.warnings:  # on stderr, as `report` does: even under --json
        sys.stderr.write(f"note: {warning}\n")
    emit(args.json, data, "\n".join(lines))
    return 0


def _safety_line(safety: dict[str, Any]) -> str:
    if not safety:
        return "no events"
    parts = [f"{safety.get('programs_flagged', 0)} programs statically flagged",
             f"runtime attempts {_counts(safety.get('runtime'))}",
             f"use_sandbox turned off {safety.get('sandbox_flag_off', 0)} times",
             f"reward hacking {_counts(safety.get('reward_hacking'))}"]
    return "; ".join(parts)


def _counts(counts: object) -> str:
    if not isinstance(counts, dict) or not counts:
        return "none"
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
