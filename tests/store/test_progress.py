"""How far a run got, and the rule that a resumed session never writes a summary with less than the run had."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selftaught.store._progress import (
    Progress,
    cap_reached,
    keep_progress,
    recorded_progress,
    summary_progress,
)


def summary(rows: int, calls: int, cost: float, status: str = "interrupted", **extra: Any) -> dict[str, Any]:
    return {"iterations": [{"iteration": t, "meta_utility_test": 0.5} for t in range(rows)], "status": status,
            "complete": status == "complete", "usage": {"calls": calls, "cost_usd": cost},
            "counters": {"evaluations": calls * 2}, "sessions": [{"started": 1.0}], **extra}


def test_a_session_that_got_as_far_on_every_count_writes_its_own_summary() -> None:
    earlier = summary(2, 10, 0.5)
    later = summary(3, 10, 0.5 - 1e-12, sessions=[{}, {}])  # the same dollars, added up in another order
    assert keep_progress(earlier, later) is later
    assert keep_progress(None, summary(0, 0, 0.0)) == summary(0, 0, 0.0)


def test_a_session_behind_on_any_count_keeps_the_earlier_results_with_its_own_status() -> None:
    earlier = summary(2, 10, 0.5, status="capped")
    for later in (summary(1, 12, 0.6), summary(2, 9, 0.6), summary(2, 12, 0.49)):
        later["sessions"] = [{"started": 1.0}, {"started": 2.0, "stopped": "interrupted"}]
        kept = keep_progress(earlier, later)
        assert {k: kept[k] for k in ("iterations", "usage", "counters")} == \
            {k: earlier[k] for k in ("iterations", "usage", "counters")}
        assert kept["status"] == "interrupted" and kept["sessions"] == later["sessions"]
        assert kept["earlier_results"] is True and "results_lag_events" not in kept
        assert summary_progress(kept).covers(summary_progress(earlier))


def test_a_killed_runs_lagging_summary_stays_marked_so_readers_consult_its_events() -> None:
    kept = keep_progress(summary(2, 10, 0.5, status="running"), summary(1, 3, 0.1))
    assert kept["results_lag_events"] is True


def test_a_completed_run_always_writes_its_own_summary() -> None:
    done = summary(4, 20, 1.0, status="complete")
    assert keep_progress(summary(2, 30, 2.0), done) is done


def test_what_a_run_records_is_the_most_its_summary_and_its_events_say(tmp_path: Path) -> None:
    events = [{"kind": "lm_call", "cost_usd": 0.25}, {"kind": "iteration", "iteration": 0},
              {"kind": "lm_call", "cost_usd": 0.5}, {"kind": "lm_call"}]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events) + '{"kind": "lm_')
    assert recorded_progress(tmp_path, summary(0, 2, 0.1)) == Progress(1, 3, 0.75)  # killed: the events know more
    assert recorded_progress(tmp_path, summary(2, 5, 1.0)) == Progress(2, 5, 1.0)
    assert recorded_progress(tmp_path / "missing", None) == Progress()


def test_a_cap_is_reached_when_the_run_has_made_or_spent_that_much() -> None:
    assert cap_reached(Progress(1, 4, 0.2), 5, None) is None
    assert cap_reached(Progress(1, 5, 0.2), 5, None) == "--max-calls 5, and it has made 5 LM calls"
    assert cap_reached(Progress(1, 4, 0.2), None, 0.2) == "--max-usd 0.2, and it has spent $0.2000"
    assert cap_reached(Progress(1, 4, 0.19), 10, 0.2) is None
