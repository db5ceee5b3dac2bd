"""One STOP run (`selftaught run`): T rounds of self-improvement of the improver, written to a run directory."""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from selftaught.api._reporting import Reporter
from selftaught.api._resume import open_resumed, resume_command
from selftaught.api._setup import Shared, backend_warnings, sandbox_record, services_for
from selftaught.broker import Services
from selftaught.config import Config
from selftaught.errors import RunLimitReached, SelftaughtError, UserError
from selftaught.improver import seed_improver
from selftaught.lm import Backend
from selftaught.lm._journal import JournalBackend
from selftaught.safety.report import safety_summary
from selftaught.stop import recorded_gates, self_improve
from selftaught.stop.archive import replay
from selftaught.store import FORMAT_VERSION, RunStore, read_events
from selftaught.store._progress import keep_progress
from selftaught.tasks import Task, get_task


@dataclass(frozen=True)
class RunResult:
    """A run's outcome: its directory and `summary.json` (what `run --json` prints)."""

    run_dir: Path
    status: str
    complete: bool
    iterations: list[dict[str, Any]]
    usage: dict[str, Any]
    stopped: str | None
    summary: dict[str, Any] = field(repr=False)

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> RunResult:
        return cls(run_dir=Path(summary["run_dir"]), status=str(summary.get("status")),
                   complete=bool(summary.get("complete")), iterations=list(summary.get("iterations") or []),
                   usage=dict(summary.get("usage") or {}), stopped=summary.get("stopped"), summary=summary)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.summary)


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


def _manifest(config: Config, task: Task, services: Services, started: float, command: list[str]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "command": command,
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


def start_run(config: Config, reporter: Reporter, *, command: list[str] | None = None,
              shared: Shared | None = None) -> tuple[RunStore, Services]:
    """A new run directory with its manifest, and the run's services. Until the manifest is written, a failure
    (an unusable --cache-path, say) leaves no run directory."""
    if config.iterate != 1:
        raise UserError(f"iterate {config.iterate}: I^k is applied at test time (transfer, compare, improve), not in a "
                        "self-improvement run, which applies each improver once as the paper does")
    task = get_task(config.task)
    shared = shared or Shared()
    store = RunStore.create(Path(config.runs_dir), task.name)
    made: Services | None = None
    try:
        made = services_for(config, reporter, store, shared=shared)
        store.write_json("manifest.json", _manifest(config, task, made, time.time(),
                                                    command or ["selftaught", *sys.argv[1:]]))
    except BaseException:
        _close_backend(made)
        store.discard()
        raise
    reporter(f"run directory: {store.root}")
    return store, made


def run_once(config: Config | None, reporter: Reporter, *, resume: Path | None = None,
             given: dict[str, Any] | None = None, config_file: str | None = None,
             command: list[str] | None = None, shared: Shared | None = None,
             services_made: list[Services] | None = None) -> RunResult:
    """STOP with `config` into a new run directory, or (`resume`) the run there continued with its own config
    (`given`: the settings asked for now; see `open_resumed`).

    A cap stops it cleanly (status `capped`); Ctrl-C, SIGTERM or a fault stop it too, keeping everything finished,
    and are raised after the summary is saved. `services_made`: the run's services are appended once made (a study
    stops them on Ctrl-C).
    """
    manifest: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    started = time.time()
    if resume is not None:
        config, store, manifest, previous = open_resumed(resume, given or {}, config_file=config_file)
        shared = shared or Shared()
        try:
            services = services_for(config, reporter, store, shared=shared)
        except BaseException:
            store.close()
            raise
    elif config is None:
        raise ValueError("run_once needs a config, or a run directory to resume")
    else:
        store, services = start_run(config, reporter, command=command, shared=shared)
    if services_made is not None:
        services_made.append(services)
    return _carry_out(config, store, services, reporter, manifest, previous, started)


def _carry_out(config: Config, store: RunStore, services: Services, reporter: Reporter,
               manifest: dict[str, Any] | None, previous: dict[str, Any] | None, started: float) -> RunResult:
    task = get_task(config.task)
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
        if config.population > 1 and done:  # linear STOP's summary is as it always was
            archive = replay(done, config.population, config.parent)
            summary["population"] = {**archive.record(), "final": archive.best(done)}
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
        decided = recorded_gates(read_events(store.root)) if manifest is not None else {}  # kept on resume
        done = self_improve(services, task, seed_improver(), config.iterations, on_iteration=save_summary,
                            recorded_gates=decided)
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
        # What still runs past the cap (other downstream runs of the step) would be refused its next LM call anyway:
        # end it now, so nothing of it is recorded, or printed, after the summary (a caller's next command included).
        services.stop()
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
    return RunResult.from_summary(final)
