"""Seeds at once (`run --repeats K`): the K runs overlap, share one backend and one executor, and give the same
results as the same seeds run one after another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import selftaught
from selftaught.api import _fleet
from selftaught.execute import make_executor

TINY = {"iterations": 1, "downstream_runs": 2, "max_responses": 2, "utility_budget": 4, "lm_budget": 1,
        "meta_utility_budget": 2, "lm": "mutate"}


def _figures(summary: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(i["iteration"], i["improver"], i["meta_utility_val"], i["meta_utility_test"], i["selection_score"])
            for i in summary["iterations"]]


def test_k_seeds_at_once_equal_the_same_seeds_one_after_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Any] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(make_executor(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(_fleet, "make_executor", counted)
    together = selftaught.run(repeats=2, seed=7, runs_dir=tmp_path / "together", **TINY)
    assert isinstance(together, selftaught.RepeatsResult) and together.seeds == [7, 8] and together.complete
    assert len(made) == 1  # one executor for both runs
    alone = [selftaught.run(seed=seed, runs_dir=tmp_path / "alone", **TINY) for seed in (7, 8)]
    assert [_figures(r.summary) for r in together.runs] == [_figures(r.summary) for r in alone]
    assert [json.loads((r.run_dir / "manifest.json").read_text())["seed"] for r in together.runs] == [7, 8]
    spans = [(r.summary["sessions"][0]["started"], r.summary["sessions"][0]["started"] + r.summary["duration"])
             for r in together.runs]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # they ran at the same time


def test_a_fault_in_one_seed_stops_the_others_and_keeps_what_they_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selftaught.api import _run
    from selftaught.errors import InfrastructureError

    real = _run.self_improve

    def broken_for_seed_2(services: Any, *args: Any, **kwargs: Any) -> Any:
        if services.config.seed == 2:
            raise InfrastructureError("the sandbox broke")
        return real(services, *args, **kwargs)

    monkeypatch.setattr(_run, "self_improve", broken_for_seed_2)
    with pytest.raises(InfrastructureError, match="the sandbox broke"):
        selftaught.run(repeats=2, seed=1, runs_dir=tmp_path, **TINY)
    (saved,) = tmp_path.glob("repeats-*.json")
    record = json.loads(saved.read_text())
    assert record["complete"] is False and sorted(r["seed"] for r in record["runs"]) == [1, 2]
    statuses = {json.loads((Path(r["run_dir"]) / "summary.json").read_text())["status"] for r in record["runs"]}
    assert "failed" in statuses
