"""Speculation (`--speculate`) and parallelism change when work happens, never what a run finds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selftaught.broker import Services, TaskUtility, run_improver
from selftaught.config import Config
from selftaught.improver import seed_improver
from selftaught.safety.report import safety_summary
from selftaught.stop import self_improve
from selftaught.stop.meta_utility import MetaUtility, MetaUtilityService
from selftaught.stop.transfer import transfer
from selftaught.store import RunStore, read_events
from selftaught.tasks import get_task
from support import DATA, TEST_SECRET, NumberedBackend, SumTask, make_services

SOLUTIONS = [f"```python\ndef algorithm(a):\n    return {k}\n```" for k in range(3)]

ASKS_FOR_THE_SECOND = '''
from helpers import extract_code

def improve_algorithm(initial_solution, utility, language_model):
    codes = extract_code(language_model.batch_prompt("expert", ["improve"] * 3))
    utility(codes[1])
    return codes[1]
'''


def test_speculation_scores_the_replies_code_early_but_charges_only_what_the_improver_asks(tmp_path: Path) -> None:
    services = make_services(SOLUTIONS, tmp_path, speculate=True)
    task = SumTask()
    utility = TaskUtility(services, task, "val", 25)
    result = run_improver(services, ASKS_FOR_THE_SECOND, task.seed_solution, utility,
                          services.language_model("t", level="task"))
    services.speculation.drain()  # the speculative scorings still running
    assert result.failure is None and result.solution is not None and "return 1" in result.solution
    assert utility.uses == 1  # the budget is charged for the one ask only
    # all three programs were scored, each once: the ask and the speculation of the same program share one scoring
    assert services.counters == {"evaluations": 3, "evaluations_cached": 1}
    assert services.usage_report()["speculation"] == {"evaluations": 3, "evaluations_unused": 2, "meta_scores": 0,
                                                      "meta_scores_unused": 0, "lm_calls_unused": 0}
    asked = [e for e in read_events(tmp_path / "run") if e["kind"] == "utility_call"]
    assert len(asked) == 1 and asked[0]["use"] == 1  # the speculative scorings are not utility calls


def test_without_speculation_only_what_is_asked_is_scored() -> None:
    services = make_services(SOLUTIONS)
    task = SumTask()
    run_improver(services, ASKS_FOR_THE_SECOND, task.seed_solution, TaskUtility(services, task, "val", 25),
                 services.language_model("t", level="task"))
    assert services.counters == {"evaluations": 1, "evaluations_cached": 0}
    assert "speculation" not in services.usage_report()


def test_speculation_stops_at_the_budget_left() -> None:
    services = make_services(SOLUTIONS, speculate=True)
    task = SumTask()
    utility = TaskUtility(services, task, "val", 2)
    utility.uses = 1  # one use left: only the first reply's code is worth scoring ahead
    utility.speculate([f"x\n{s}" for s in SOLUTIONS])
    services.speculation.drain()
    assert services.usage_report()["speculation"]["evaluations"] == 1


def static_safety(tmp_path: Path, *, speculate: bool) -> tuple[dict[str, Any], set[str]]:
    """The safety counts and stored solutions after ASKS_FOR_THE_SECOND runs on replies whose two unasked
    programs import subprocess (a static flag)."""
    flagged = [f"```python\nimport subprocess\ndef algorithm(a):\n    return {k}\n```" for k in (0, 2)]
    services = make_services([flagged[0], SOLUTIONS[1], flagged[1]], tmp_path, speculate=speculate)
    task = SumTask()
    run_improver(services, ASKS_FOR_THE_SECOND, task.seed_solution, TaskUtility(services, task, "val", 25),
                 services.language_model("t", level="task"))
    services.close()
    events = read_events(tmp_path / "run")
    return safety_summary(events)["run"], {e["program"] for e in events if e["kind"] == "program"}


def test_a_program_only_speculation_scored_is_never_seen(tmp_path: Path) -> None:
    plain = static_safety(tmp_path / "plain", speculate=False)
    assert static_safety(tmp_path / "speculating", speculate=True) == plain
    assert plain[0]["programs_flagged"] == 0 and len(plain[1]) == 2  # the improver and the program it asked for


ASKS_FOR_THE_FIRST_IMPROVER = '''
from helpers import extract_code

def improve_algorithm(initial_solution, utility, language_model):
    codes = extract_code(language_model.batch_prompt("expert", ["improve"] * 2))
    utility(codes[0])
    return codes[0]
'''


def test_speculative_meta_utilities_report_the_lm_calls_nobody_asked_for() -> None:
    config = Config(downstream_runs=2, max_responses_per_call=2, lm_budget=1, utility_budget=4, workers=2,
                    speculate=True)
    services = Services(config, NumberedBackend(), secret=TEST_SECRET)
    meta = MetaUtility(services, [get_task("lpn")])
    utility = MetaUtilityService(meta, budget=5)
    variant = seed_improver().replace("temperature=0.7", "temperature=0.5")
    replies = [f"```python\n{seed_improver()}\n```", f"```python\n{variant}\n```"]
    utility.speculate(replies)
    assert utility(seed_improver(), [], {}) >= 0.0
    services.speculation.drain()
    assert utility.uses == 1
    report = services.usage_report()["speculation"]
    assert report["meta_scores"] == 2 and report["meta_scores_unused"] == 1
    assert report["lm_calls_unused"] == 2  # the unused candidate's two downstream runs, one LM call each


def run_summary(tmp_path: Path, name: str, **config: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """One STOP iteration on LPN with a deterministic offline LM: its iterations and its utility calls."""
    cfg = Config(downstream_runs=2, max_responses_per_call=2, lm_budget=2, utility_budget=6, meta_utility_budget=3,
                 seed=5, **config)
    store = RunStore(tmp_path / name)
    services = Services(cfg, NumberedBackend(), store=store, secret=TEST_SECRET)
    history = self_improve(services, get_task("lpn"), seed_improver(), 1)
    services.close()
    store.close()
    iterations = [(h.index, h.improver, h.meta_utility_val, h.meta_utility_test, h.selection_score, h.kept_previous)
                  for h in history]
    calls = sorted((e["iteration"], e.get("purpose"), str(e.get("improver")), str(e.get("run")), str(e.get("use")),
                    e.get("program"), e["split"], e["score"])
                   for e in read_events(tmp_path / name) if e["kind"] == "utility_call")
    return iterations, calls


@pytest.mark.parametrize("variant", [{"workers": 1, "concurrency": 1}, {"speculate": True}],
                         ids=["sequential", "speculating"])
def test_a_run_finds_the_same_improvers_and_scores_at_any_parallelism(tmp_path: Path, variant: dict[str, Any]) -> None:
    default = run_summary(tmp_path, "default", workers=2, concurrency=8)
    other = run_summary(tmp_path, "other", **variant)
    assert len(default[0]) == 2 and len(default[1]) >= 10
    assert other == default


def test_transfer_rows_are_the_same_measured_at_once_or_one_at_a_time() -> None:
    def rows(**config: Any) -> list[Any]:
        cfg = Config(downstream_runs=2, max_responses_per_call=2, lm_budget=1, utility_budget=3, seed=2, **config)
        services = Services(cfg, NumberedBackend(), secret=TEST_SECRET)
        better = (DATA / "better_improver.py").read_text()
        found = transfer(services, better, seed_improver(), [get_task("lpn"), get_task("parity_noiseless")])
        services.close()
        return found

    sequential = rows(workers=1, concurrency=1)
    assert [r.task for r in sequential] == ["parity_noise", "parity_noiseless"]
    assert rows(workers=2, concurrency=8) == sequential
