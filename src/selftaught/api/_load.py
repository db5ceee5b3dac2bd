"""Reading runs back (`runs list`, `runs show`, `load_run`): how each ended, its config, iterations and safety."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftaught.api._resume import resume_command
from selftaught.errors import UserError
from selftaught.safety.report import safety_summary
from selftaught.store import read_events
from selftaught.store._status import RESUMABLE, RunInfo, read_run


@dataclass(frozen=True)
class LoadedRun:
    """A run directory read back: status, config, iterations (with intervals), usage, safety counts, and the
    improvers' programs; `to_dict()` is what `runs show --json` prints."""

    path: Path
    status: str
    iterations: list[dict[str, Any]]
    config: dict[str, Any]
    info: RunInfo = field(repr=False)
    data: dict[str, Any] = field(repr=False)

    def improver(self, t: int) -> str:
        """The program of I_t (a UserError if the run has no such improver)."""
        path = self.path / "improvers" / f"I_{t}.py"
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            raise UserError(f"{self.path} has no improver I_{t}") from None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def run_row(info: RunInfo) -> dict[str, Any]:
    """One run's line of `runs list --json`."""
    if info.status == "unreadable":
        return {"id": info.id, "path": str(info.path), "status": "unreadable", "reason": info.reason}
    return {"id": info.id, "path": str(info.path), "status": info.status, "reason": info.reason or None,
            "task": info.task, "lm": info.lm, "iterations_done": info.iterations_done,
            "iterations": info.total_iterations, "best_meta_utility_test": info.best_test, "cost_usd": info.cost_usd}


def resolve_run(run: str | Path, runs_dir: str | Path) -> Path:
    """A run directory, or the id of one under `runs_dir`."""
    path = Path(run)
    if path.is_dir():
        return path
    candidate = Path(runs_dir) / str(run)
    if candidate.is_dir():
        return candidate
    raise UserError(f"no run directory {run} (neither a path nor an id under {runs_dir})")


def run_safety(info: RunInfo) -> dict[str, Any]:
    recorded = (info.summary or {}).get("safety")
    if isinstance(recorded, dict) and isinstance(recorded.get("run"), dict) and not info.stale:
        return dict(recorded["run"])
    try:
        return dict(safety_summary(read_events(info.path))["run"])
    except OSError:
        return {}


def load_run(run: str | Path, runs_dir: str | Path = "runs") -> LoadedRun:
    """The run directory `run` (a path, or an id under `runs_dir`) read back; an unreadable one is a UserError."""
    info = read_run(resolve_run(run, runs_dir))
    if info.status == "unreadable":
        raise UserError(info.reason)
    manifest, summary = info.manifest, info.summary or {}
    config = manifest.get("config", {})
    usage = summary.get("usage") if isinstance(summary.get("usage"), dict) else {}
    data = {**run_row(info), "seed": manifest.get("seed"), "format_version": manifest.get("format_version"),
            "started": manifest.get("started"), "command": manifest.get("command"), "config": config,
            "sandbox": manifest.get("sandbox"), "iteration_records": info.iterations, "usage": usage,
            "safety": run_safety(info), "sessions": summary.get("sessions", []),
            "resume": resume_command(info.path) if info.status in RESUMABLE else None, "warnings": info.warnings}
    return LoadedRun(path=info.path, status=info.status, iterations=list(info.iterations),
                     config=dict(config) if isinstance(config, dict) else {}, info=info, data=data)
