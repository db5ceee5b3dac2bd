"""`run --adopt better` records each step's gate decision from fresh val runs; `always` is the paper's run as before."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import selftaught
from selftaught.cli._runs import iteration_table
from selftaught.errors import UserError
from selftaught.stop import loop
from selftaught.stop.gate import GateDecision
from selftaught.store import read_events

TINY = {"downstream_runs": 2, "max_responses": 2, "utility_budget": 4, "lm_budget": 1, "meta_utility_budget": 2,
        "lm": "mutate"}
GATE = {"adopt": "better", "gate_runs": 6}


def _figures(summary: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(i["iteration"], i["improver"], i["meta_utility_val"], i["meta_utility_test"], i["selection_score"],
             i["kept_previous"]) for i in summary["iterations"]]


def _gate_scores(events: list[dict[str, Any]], step: int, improver: str) -> list[float]:
    """An improver's gate runs of `step`, by run index: its solution's val score, 0 (the failure score) without one."""
    runs = {int(e["stream"].rsplit("/", 1)[1]): e for e in events if e.get("kind") == "improver_run"
            and str(e.get("stream")).startswith(f"gate/{step}/{improver}/")}
    finals = {e["run"]: e["score"] for e in events if e.get("kind") == "utility_call" and e.get("purpose") == "gate"
              and "use" not in e and e.get("improver") == improver and e.get("iteration") == step}
    return [float(finals[i]) if runs[i].get("solution") else 0.0 for i in sorted(runs)]


@dataclass
class Gated:
    """A gated run stopped by Ctrl-C at step 2's gate and resumed: what each session asked, how resumes were refused."""

    result: selftaught.RunResult
    first: list[dict[str, Any]]  # the iterations the interrupted session saved
    asked: list[list[int]]  # the steps whose gate each session computed
    refusals: list[str]


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Gated:
    runs_dir = tmp_path_factory.mktemp("gated")
    real = loop.run_gate
    asked: list[list[int]] = [[]]

    def stop_at_step_two(meta: Any, step: int, *args: Any) -> GateDecision:
        asked[-1].append(step)
        if step == 2 and len(asked) == 1:
            raise KeyboardInterrupt
        return real(meta, step, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "run_gate", stop_at_step_two)
        with pytest.raises(KeyboardInterrupt):
            selftaught.run(seed=1, iterations=2, runs_dir=runs_dir, **TINY, **GATE)
        (run_dir,) = runs_dir.iterdir()
        first = json.loads((run_dir / "summary.json").read_text())["iterations"]
        refusals = []
        for change in ({"gate_runs": 7}, {"adopt": "always"}):
            with pytest.raises(UserError) as refused:
                selftaught.run(resume=run_dir, **change)
            refusals.append(str(refused.value))
        asked.append([])
        result = selftaught.run(resume=run_dir)
    assert isinstance(result, selftaught.RunResult) and result.complete
    return Gated(result, first, asked, refusals)


def test_a_gated_run_records_each_decision_with_the_runs_it_was_made_on(gated: Gated) -> None:
    result = gated.result
    events = read_events(result.run_dir)
    steps = {int(e["stream"][5:]): e for e in events if e.get("kind") == "improver_run"
             and str(e.get("stream")).startswith("stop/")}
    records = result.iterations
    gated = [r for r in records if "gate" in r]
    assert gated, "no step reached the gate"
    for r in gated:
        gate, t, previous = r["gate"], r["iteration"], records[r["iteration"] - 1]
        assert GateDecision.from_record(gate) is not None
        assert gate["incumbent"] == previous["improver"] and gate["candidate"] == steps[t]["solution"]
        assert r["kept_previous"] is not gate["adopted"]
        assert r["improver"] == (gate["candidate"] if gate["adopted"] else previous["improver"])
        # the decision's figures are the gate's own fresh val runs, as the events recorded them
        assert gate["gate_runs"] == GATE["gate_runs"] and gate["split"] == "val"
        assert gate["incumbent_runs"] == pytest.approx(_gate_scores(events, t, gate["incumbent"]), abs=1e-6)
        assert gate["candidate_runs"] == pytest.approx(_gate_scores(events, t, gate["candidate"]), abs=1e-6)
        diffs = [b - a for a, b in zip(gate["incumbent_runs"], gate["candidate_runs"], strict=True)]
        assert gate["difference"]["mean"] == pytest.approx(sum(diffs) / len(diffs), abs=1e-5)
        assert gate["adopted"] == (gate["p_value"] < gate["alpha"] and gate["difference"]["low"] > 0)
    assert not any(e.get("purpose") == "gate" and e.get("split") == "test" for e in events)  # test stays unseen
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert [i.get("gate") for i in summary["iterations"]] == [r.get("gate") for r in records]
    recorded = {e["iteration"]: e.get("gate") for e in events if e.get("kind") == "iteration"}
    assert recorded == {r["iteration"]: r.get("gate") for r in records}
    table = "\n".join(iteration_table(records))
    assert all(f"p = {r['gate']['p_value']:.3g}" in table or r["gate"]["p_value"] < 0.001 for r in gated)


def test_adopt_always_is_the_default_run_and_makes_no_gate_runs(tmp_path: Path) -> None:
    default = selftaught.run(seed=3, iterations=1, runs_dir=tmp_path / "default", **TINY)
    always = selftaught.run(seed=3, iterations=1, runs_dir=tmp_path / "always", adopt="always", **TINY)
    assert isinstance(default, selftaught.RunResult) and isinstance(always, selftaught.RunResult)
    assert _figures(always.summary) == _figures(default.summary)
    assert always.usage["calls"] == default.usage["calls"]
    for result in (default, always):
        assert not any("gate" in r for r in result.iterations)
        assert not any(str(e.get("stream", "")).startswith("gate/") or e.get("purpose") == "gate"
                       for e in read_events(result.run_dir))


def test_a_resumed_run_keeps_the_recorded_decisions_and_refuses_another_gate(gated: Gated) -> None:
    assert gated.asked == [[1, 2], [2]]  # step 1's decision was read from the record, not made again
    assert "gate" in gated.first[1] and gated.result.iterations[1] == gated.first[1]
    events = read_events(gated.result.run_dir)
    assert sum(e.get("kind") == "iteration" and e.get("iteration") == 1 for e in events) == 1
    assert [m.split(":")[0] for m in gated.refusals] == ["--gate-runs 7 differs from the run's (6)",
                                                         "--adopt always differs from the run's (better)"]
