"""Library improvers load and run in a sandboxed worker, against the orchestrator's budgets (through the same
`run_improver` every improver run takes)."""

from __future__ import annotations

import pytest

from selftaught.broker import TaskUtility, run_improver
from selftaught.improver import improver_program
from support import BAD_SUM, GOOD_SUM, SumTask, make_services


@pytest.mark.parametrize("name", ["beam_search", "genetic_implicit"])
def test_a_library_improver_runs_in_a_worker_within_its_budgets_and_finds_the_good_reply(name: str) -> None:
    # Words without code, a wrong program and the right one: the improver must keep the right one.
    services = make_services(["No code from me.", BAD_SUM, GOOD_SUM], lm_budget=2, max_responses_per_call=3,
                             utility_budget=4)
    task = SumTask()
    utility = TaskUtility(services, task, "val", services.config.utility_budget)
    lm = services.language_model("t", level="task")
    result = run_improver(services, improver_program(name), task.seed_solution, utility, lm)
    assert result.failure is None, result.detail
    assert result.solution is not None and "sum(int(x)" in result.solution
    assert result.lm_calls == 2 and 2 <= result.utility_calls <= 4
