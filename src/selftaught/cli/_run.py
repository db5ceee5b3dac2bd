"""`selftaught run`: STOP, T rounds of self-improvement of the improver, written to a run directory."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from selftaught.broker import Services
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
from selftaught.cli._estimate import add_estimate_flags, gate_run
from selftaught.cli._resume import open_resumed, resume_command
from selftaught.cli._runs import iteration_table, usage_line
from selftaught.cli._signals import sigterm_interrupts
from selftaught.config import Config
from selftaught.errors import RunLimitReached, SelftaughtError, UserError
from selftaught.improver import seed_improver
from selftaught.lm import Backend
from selftaught.lm._journal import JournalBackend
from selftaught.safety.report import safety_summary
from selftaught.stop import self_improve
from selftaught.store import FORMAT_VERSION, RunStore, read_events
from selftaught.store._progress import keep_progress
from selftaught.tasks import Task, get_task


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="self-improve the seed improver for T iterations (STOP)")
    add_run_flags(p, task=True)
    p.add_argument("--iterations", type=int, help="T, rounds of self-improvement (paper: 3)")
    p.add_argument("--meta-utility-budget", type=int, dest="meta_utility_budget",
                   help="meta-utility calls per self-improvement step (paper: 25)")
    p.add_argument("--runs-dir", dest="runs_dir", help="where run directories are created (default ./runs)")
    p.add_argument("--repeats", type=int, default=1, metavar="K",
                   help="K independent runs (seeds seed..seed+K-1) and their mean curve (default 1)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run where it stopped, with the config in its manifest "
                        "(replays its finished LM calls and evaluations: the same result as an uninterrupted run)")
    add_estimate_flags(p)
    p.set_defaults(handler=handle)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("selftaught", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def _ship_cache(backend: Backend, summary: dict[str, Any]) -> None:
    """Where the LM samples this run used are (its journal, a cache file `--cache replay` can re-run it from)."""
    if isinstance(backend, JournalBackend):
        summary["lm_cache"] = {"path": str(backend.path), "samples": backend.samples()}


def _manifest(config: Config, task: Task, services: Services, started: float) -> dict[str, Any]:
    return {
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
    }


def _close_backend(services: Services | None) -> None:
    if services is not None and isinstance(services.backend, JournalBackend):
        services.backend.close()


def handle(args: argparse.Namespace) -> int:
    if (code := gate_run(args)) is not None:  # --estimate, or a priced model not approved
        return code
    if getattr(args, "repeats", 1) != 1:
        if args.resume:
            raise UserError("--resume continues one run: it cannot be combined with --repeats")
        return _repeats.handle(args, handle)
    with sigterm_interrupts():
        return _handle(args)


def _handle(args: argparse.Namespace) -> int:
    reporter = Reporter(args.json)
    manifest: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    if args.resume:
        config, store, manifest, previous = open_resumed(args)
    else:
        config = config_from(args)
    task = get_task(config.task)
    started = time.time()
    if manifest is None:
        store = RunStore.create(Path(config.runs_dir), task.name)
        made: Services | None = None
        try:  # until its manifest is written, a failure (an unusable --cache-path, say) leaves no run directory
            made = services_for(config, reporter, store)
            store.write_json("manifest.json", _manifest(config, task, made, started))
        except BaseException:
            _close_backend(made)
            store.discard()
            raise
        services = made
        reporter(f"run directory: {store.root}")
    else:
        try:
            services = services_for(config, reporter, store)
        except BaseException:
            store.close()
            raise
    sessions: list[dict[str, Any]] = list((previous or {}).get("sessions") or [])
    skipped = {name: count for name, count in store.skipped.items() if count}
    if manifest is not None:
        store.event("resumed", session=len(sessions) + 1, events_recorded=store.events_recorded,
                    evaluations_recorded=store.evaluations.loaded)
        reporter(f"resuming {store.root}: replaying {store.events_recorded} recorded events, "
                 f"{store.evaluations.loaded} finished evaluations and the LM journal")
        if skipped:
            reporter.warn("skipped unreadable lines of the run's logs (garbage in the file; left in place): "
                          + ", ".join(f"{count} of {name}" for name, count in skipped.items()))
    session: dict[str, Any] = {"started": started, "resumed": manifest is not None}
    if skipped:
        session["skipped_lines"] = skipped
    sessions.append(session)
    earlier = sum(float(s.get("duration") or 0) for s in sessions[:-1])
    summary: dict[str, Any] = {"run_dir": str(store.root), "task": task.name, "iterations": [], "complete": False,
                               "status": "running", "known_holes": list(task.known_holes),
                               "sandbox": sandbox_record(services.sandbox_choice), "sessions": sessions}

    history: list[Any] = []

    def save_summary(done: list[Any]) -> None:
        history[:] = done
        summary["iterations"] = [item.record() for item in done]
        summary["counters"] = dict(services.counters)
        summary["usage"] = services.usage_report()
        summary["safety"] = safety_summary(read_events(store.root))
        session["duration"] = round(time.time() - started, 2)
        session["replayed_lm_calls"] = getattr(services.backend, "replayed", 0)
        session["reused_evaluations"] = store.evaluations.reused
        summary["duration"] = round(earlier + session["duration"], 2)
        store.write_json("summary.json", keep_progress(previous, summary))

    summary["stopped"] = None
    abandoned = False  # stopped by Ctrl-C, SIGTERM or an error: speculative work is not waited for
    try:
        done = self_improve(services, task, seed_improver(), config.iterations, on_iteration=save_summary)
        summary["complete"] = True
        summary["status"] = "complete"
        if manifest is not None:
            session["unmatched_events"] = store.unmatched_events()
        save_summary(done)
    except RunLimitReached as exc:  # a cap: stop cleanly, keep every finished iteration
        summary["stopped"] = str(exc)
        summary["status"] = "capped"
        if exc.cap is not None:  # which cap, at what value: a resume that does not raise it is refused
            summary["capped_at"] = {"cap": exc.cap, "limit": exc.limit}
        save_summary(history)
        reporter.warn(f"run stopped: {exc}; everything so far is saved in {store.root}")
    except (SelftaughtError, KeyboardInterrupt) as exc:  # a task's bug, a fatal LM fault, Ctrl-C: say so, keep all
        abandoned = True
        services.stop()  # kill the improvers' workers, record nothing more: what is recorded is what finished
        summary["stopped"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        summary["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        save_summary(history)
        reporter.warn(f"run stopped; everything so far is saved in {store.root}")
        raise
    finally:
        services.close(wait=not abandoned)  # speculation finished or dropped: the usage below is final
        summary["usage"] = services.usage_report()
        summary["warnings"] = backend_warnings(services.backend)
        for warning in summary["warnings"]:
            reporter.warn(warning)
        _ship_cache(services.backend, summary)
        session["stopped"] = summary["stopped"]
        if not summary["complete"]:
            summary["resume"] = resume_command(store.root)
            reporter.warn(f"to continue it: {summary['resume']}")
        final = keep_progress(previous, summary)  # a resume that stopped before catching up keeps what was saved
        store.write_json("summary.json", final)
        store.close()
        _close_backend(services)
    lines = [f"run directory: {store.root}", *iteration_table(final["iterations"]), usage_line(final["usage"])]
    if final["stopped"]:
        lines.append(f"stopped early: {final['stopped']}")
    if getattr(args, "on_summary", None) is not None:  # one run of --repeats: that command reports
        args.on_summary(final, lines)
        return 0
    emit(args.json, final, "\n".join(lines))
    return 0
