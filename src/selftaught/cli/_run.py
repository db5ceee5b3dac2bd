"""`selftaught run`: STOP, T rounds of self-improvement of the improver, written to a run directory."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from selftaught.cli import _repeats
from selftaught.cli._common import (
    Reporter,
    add_run_flags,
    backend_warnings,
    config_from,
    emit,
    sandbox_record,
    services_for,
)
from selftaught.errors import RunLimitReached, SelftaughtError
from selftaught.improver import seed_improver
from selftaught.lm import Backend
from selftaught.lm._cached import CachedBackend
from selftaught.safety.report import safety_summary
from selftaught.stop import self_improve
from selftaught.store import FORMAT_VERSION, RunStore, read_events
from selftaught.tasks import get_task


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="self-improve the seed improver for T iterations (STOP)")
    add_run_flags(p, task=True)
    p.add_argument("--iterations", type=int, help="T, rounds of self-improvement (paper: 3)")
    p.add_argument("--meta-utility-budget", type=int, dest="meta_utility_budget",
                   help="meta-utility calls per self-improvement step (paper: 25)")
    p.add_argument("--runs-dir", dest="runs_dir", help="where run directories are created (default ./runs)")
    p.add_argument("--repeats", type=int, default=1, metavar="K",
                   help="K independent runs (seeds seed..seed+K-1) and their mean curve (default 1)")
    p.set_defaults(handler=handle)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("selftaught", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def _ship_cache(backend: Backend, run_dir: Path, summary: dict[str, Any]) -> None:
    """Copies the LM samples this run used into the run directory, for an offline replay."""
    if isinstance(backend, CachedBackend) and backend.used_keys:
        count = backend.cache.export_keys(run_dir / "lm-cache.sqlite", backend.used_keys)
        summary["lm_cache"] = {"path": str(run_dir / "lm-cache.sqlite"), "samples": count}


def handle(args: argparse.Namespace) -> int:
    if getattr(args, "repeats", 1) != 1:
        return _repeats.handle(args, handle)
    config = config_from(args)
    task = get_task(config.task)
    reporter = Reporter(args.json)
    store = RunStore.create(Path(config.runs_dir), task.name)
    started = time.time()
    services = services_for(config, reporter, store)
    store.write_json("manifest.json", {
        "format_version": FORMAT_VERSION,
        "command": ["selftaught", *sys.argv[1:]],
        "config": config.to_dict(),
        "task": {"name": task.name, "splits": dict(task.split_sizes), "time_limit": task.time_limit,
                 "known_holes": list(task.known_holes)},
        "seed": config.seed,
        "lm": {"backend": services.backend.name, "notice": services.backend.notice},
        "sandbox": sandbox_record(services.sandbox_choice),
        "split_secret": services.secret.record(),
        "versions": _versions(),
        "started": started,
    })
    reporter(f"run directory: {store.root}")
    summary: dict[str, Any] = {"run_dir": str(store.root), "task": task.name, "iterations": [], "complete": False,
                               "known_holes": list(task.known_holes),
                               "sandbox": sandbox_record(services.sandbox_choice)}

    history: list[Any] = []

    def save_summary(done: list[Any]) -> None:
        history[:] = done
        summary["iterations"] = [item.record() for item in done]
        summary["counters"] = dict(services.counters)
        summary["usage"] = services.usage_report()
        summary["safety"] = safety_summary(read_events(store.root))
        summary["duration"] = round(time.time() - started, 2)
        store.write_json("summary.json", summary)

    summary["stopped"] = None
    interrupted = False
    try:
        done = self_improve(services, task, seed_improver(), config.iterations, on_iteration=save_summary)
        summary["complete"] = True
        save_summary(done)
    except RunLimitReached as exc:  # a cap: stop cleanly, keep every finished iteration
        summary["stopped"] = str(exc)
        save_summary(history)
        reporter.warn(f"run stopped: {exc}; everything so far is saved in {store.root}")
    except (SelftaughtError, KeyboardInterrupt) as exc:  # a task's bug, a fatal LM fault, Ctrl-C: say so, keep all
        summary["stopped"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        interrupted = True
        save_summary(history)
        reporter.warn(f"run stopped; everything so far is saved in {store.root}")
        raise
    finally:
        services.close(wait=not interrupted)  # speculation finished or dropped: the usage below is final
        summary["usage"] = services.usage_report()
        summary["warnings"] = backend_warnings(services.backend)
        for warning in summary["warnings"]:
            reporter.warn(warning)
        _ship_cache(services.backend, store.root, summary)
        store.write_json("summary.json", summary)
        store.close()
    lines = [f"run directory: {store.root}",
             f"{'iteration':<10} {'meta-utility val':>17} {'test':>8} {'selected with (val)':>20}"]
    for item in history:
        note = "  (kept previous)" if item.kept_previous else ""
        seen = "-" if item.selection_score is None else f"{item.selection_score:.4f}"
        lines.append(f"I_{item.index:<8} {item.meta_utility_val:>17.4f} {item.meta_utility_test:>8.4f} "
                     f"{seen:>20}{note}")
    lines.append("meta-utility: fresh downstream runs the improver never saw; selected with: what it saw")
    usage = summary["usage"]
    lines.append(f"LM usage: {usage['calls']} calls, {usage['input_tokens']} input and {usage['output_tokens']} output "
                 f"tokens, ${usage['cost_usd']:.4f}, {usage['cache_hits']} cache hits")
    if summary["stopped"]:
        lines.append(f"stopped early: {summary['stopped']}")
    if getattr(args, "on_summary", None) is not None:  # one run of --repeats: that command reports
        args.on_summary(summary, lines)
        return 0
    emit(args.json, summary, "\n".join(lines))
    return 0
