"""How far a run got (iterations, LM calls, dollars), so a resumed run never saves less than the run had."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught.store._run_store import read_events

#: The summary fields that hold what a run computed and spent; a resumed session that stops before it has caught
#: up with them (Ctrl-C while it replays, a cap, a fault) writes the earlier session's instead of its own.
RESULT_FIELDS = ("iterations", "counters", "usage")
_COST_SLACK = 1e-9  # dollars added up in another order differ in the last bits


@dataclass(frozen=True)
class Progress:
    """How far a run got: iterations recorded (I_0 counts: it is a row), LM calls made, dollars spent."""

    iterations: int = 0
    calls: int = 0
    cost_usd: float = 0.0

    def covers(self, other: Progress) -> bool:
        """At least as far as `other` on every count."""
        return (self.iterations >= other.iterations and self.calls >= other.calls
                and self.cost_usd >= other.cost_usd - _COST_SLACK * (1 + abs(other.cost_usd)))

    def merge(self, other: Progress) -> Progress:
        return Progress(max(self.iterations, other.iterations), max(self.calls, other.calls),
                        max(self.cost_usd, other.cost_usd))


def _number(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0


def summary_progress(summary: dict[str, Any] | None) -> Progress:
    """What a `summary.json` records (nothing for a missing or unreadable one)."""
    if not isinstance(summary, dict):
        return Progress()
    records = summary.get("iterations")
    usage = summary.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Progress(len(records) if isinstance(records, list) else 0, int(_number(usage.get("calls"))),
                    _number(usage.get("cost_usd")))


def event_progress(events: list[dict[str, Any]]) -> Progress:
    """What a run's events record: the iterations finished, the LM calls logged and their cost."""
    iterations = {e["iteration"] for e in events
                  if e.get("kind") == "iteration" and isinstance(e.get("iteration"), int)}
    calls = [e for e in events if e.get("kind") == "lm_call"]
    return Progress(len(iterations), len(calls), sum(_number(e.get("cost_usd")) for e in calls))


def recorded_progress(run_dir: Path, summary: dict[str, Any] | None) -> Progress:
    """The most a run directory records, from its summary and its events (a killed run's summary lags them)."""
    try:
        events = read_events(run_dir)
    except OSError:
        events = []
    return summary_progress(summary).merge(event_progress(events))


def cap_reached(progress: Progress, max_calls: int | None, max_usd: float | None) -> str | None:
    """Which run-wide cap `progress` is already at (what the run checks before every LM call), or None."""
    if max_calls is not None and progress.calls >= max_calls:
        return f"--max-calls {max_calls}, and it has made {progress.calls} LM calls"
    if max_usd is not None and progress.cost_usd >= max_usd:
        return f"--max-usd {max_usd:g}, and it has spent ${progress.cost_usd:.4f}"
    return None


def keep_progress(previous: dict[str, Any] | None, summary: dict[str, Any]) -> dict[str, Any]:
    """The summary a resumed session writes: its own when it got at least as far as the `previous` summary (or
    completed the run); otherwise its own with the previous one's results (`RESULT_FIELDS`), marked
    `earlier_results`, so that no resume ever rewrites a summary with fewer iterations, calls or dollars."""
    if previous is None or summary.get("complete") is True:
        return summary
    if summary_progress(summary).covers(summary_progress(previous)):
        return summary
    kept = dict(summary)
    for key in RESULT_FIELDS:
        if key in previous:
            kept[key] = previous[key]
    kept["earlier_results"] = True
    # A killed run's summary lags its events: readers must still consult them (see `store._status.read_run`).
    if previous.get("status", "running") == "running" or previous.get("results_lag_events") is True:
        kept["results_lag_events"] = True
    return kept
