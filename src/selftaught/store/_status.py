"""Reading a run directory back: its manifest, summary and status (complete, running, interrupted, failed...)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftaught.errors import UserError
from selftaught.store._run_store import FORMAT_VERSION, is_locked, read_events

#: complete; running (a live process holds the run); interrupted (Ctrl-C, SIGTERM, or killed: no final summary);
#: failed (stopped by an error); capped (stopped by --max-usd or --max-calls); unreadable (corrupt or foreign).
STATUSES = ("complete", "running", "interrupted", "failed", "capped", "unreadable")
RESUMABLE = frozenset({"interrupted", "failed", "capped"})
CAP_PREFIXES = ("--max-usd", "--max-calls")


@dataclass
class RunInfo:
    """What a run directory says about its run (`status` unreadable: `reason` says why, the rest is empty)."""

    path: Path
    status: str
    reason: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    iterations: list[dict[str, Any]] = field(default_factory=list)
    cost_usd: float | None = None
    #: the summary does not describe how the run ended (it is running, or was killed: read its events too)
    stale: bool = False
    #: what could not be read (a corrupt summary.json): shown as notes, never fatal
    warnings: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def task(self) -> str:
        return str((self.manifest.get("task") or {}).get("name") or self.manifest.get("config", {}).get("task", "?"))

    @property
    def lm(self) -> str:
        return str(self.manifest.get("config", {}).get("lm") or (self.manifest.get("lm") or {}).get("backend") or "?")

    @property
    def total_iterations(self) -> int | None:
        value = self.manifest.get("config", {}).get("iterations")
        return value if isinstance(value, int) else None

    @property
    def iterations_done(self) -> int | None:
        """Self-improvement iterations finished (I_0, the seed's measurement, is not one); None before I_0."""
        return max((int(i["iteration"]) for i in self.iterations), default=None) if self.iterations else None

    @property
    def best_test(self) -> float | None:
        scores = [float(i["meta_utility_test"]) for i in self.iterations if _number(i.get("meta_utility_test"))]
        return max(scores, default=None)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest; a UserError naming what is wrong when there is none, it is corrupt, or too new."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a directory")
    try:
        manifest = _read_json(run_dir / "manifest.json")
    except FileNotFoundError:
        raise UserError(f"{run_dir} is not a run directory (no manifest.json)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{run_dir}/manifest.json is unreadable ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise UserError(f"{run_dir}/manifest.json is not a selftaught run manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise UserError(f"{run_dir}/manifest.json has no valid format_version")
    if version > FORMAT_VERSION:
        raise UserError(f"{run_dir} was written by a newer selftaught (run format {version}; this one reads up to "
                        f"{FORMAT_VERSION}): upgrade selftaught to read it")
    return manifest


def _load_summary(run_dir: Path, warnings: list[str]) -> dict[str, Any] | None:
    """The run's summary; None (with a warning, unless there is none yet) when it is missing or unreadable."""
    path = run_dir / "summary.json"
    try:
        summary = _read_json(path)
    except FileNotFoundError:
        return None  # killed before its first summary: its events say what it did
    except OSError as exc:
        warnings.append(f"{path} cannot be read ({exc.strerror}): its status and figures come from events.jsonl")
        return None
    except (ValueError, RecursionError):
        warnings.append(f"{path} is not valid JSON (damaged?): its status and figures come from events.jsonl")
        return None
    if not isinstance(summary, dict):
        warnings.append(f"{path} is not a JSON object: its status and figures come from events.jsonl")
        return None
    return summary


def _status(summary: dict[str, Any] | None, live: bool) -> str:
    if live:
        return "running"
    if summary is None:
        return "interrupted"  # killed before its first summary
    status = summary.get("status")
    if status in STATUSES and status not in ("running", "unreadable"):
        return str(status)
    if "status" not in summary:  # format 1: no status field
        stopped = summary.get("stopped")
        if summary.get("complete") is True:
            return "complete"
        if isinstance(stopped, str) and stopped.startswith(CAP_PREFIXES):
            return "capped"
        if stopped and stopped != "interrupted":
            return "failed"
    return "interrupted"  # stopped by Ctrl-C or SIGTERM, or killed mid-run (its summary still says running)


def read_run(run_dir: Path) -> RunInfo:
    """Everything `runs list` and `runs show` print about a run directory; never raises for a bad directory."""
    try:
        manifest = load_manifest(run_dir)
    except UserError as exc:
        return RunInfo(run_dir, "unreadable", str(exc))
    warnings: list[str] = []
    summary = _load_summary(run_dir, warnings)
    info = RunInfo(run_dir, _status(summary, is_locked(run_dir)), manifest=manifest, summary=summary,
                   warnings=warnings)
    info.stale = info.status == "running" or summary is None or summary.get("status", "running") == "running" or (
        "status" not in summary and info.status == "interrupted" and not summary.get("stopped")) or (
        summary.get("results_lag_events") is True)
    records = summary.get("iterations") if summary is not None else None
    if isinstance(records, list):
        info.iterations = [r for r in records if isinstance(r, dict) and isinstance(r.get("iteration"), int)]
    if summary is not None and summary.get("stopped"):
        info.reason = str(summary["stopped"])
    usage = summary.get("usage") if summary is not None else None
    if not info.stale and isinstance(usage, dict) and _number(usage.get("cost_usd")):
        info.cost_usd = float(usage["cost_usd"])
        return info
    try:  # killed or running: its events know more than its last summary
        events = read_events(run_dir)
    except OSError:
        return info
    done = [e for e in events if e.get("kind") == "iteration" and isinstance(e.get("iteration"), int)]
    if len(done) > len(info.iterations):
        info.iterations = done
    info.cost_usd = round(sum(float(e["cost_usd"]) for e in events
                              if e.get("kind") == "lm_call" and _number(e.get("cost_usd"))), 6)
    return info
