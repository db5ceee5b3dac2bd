"""Each built-in seed solution scores on the test split where the paper's seed did (generous bands)."""

from __future__ import annotations

import pytest

from selftaught.evaluate import evaluate
from selftaught.tasks import get_task
from support import TEST_SECRET

# paper's u(s) on test: LPN ~0.5, parity 50.0%, grid 43.9%, QAP 20.4%, 3-SAT 0%, max-cut 0%
BANDS = {
    "parity_noise": (0.4, 0.6),
    "parity_noiseless": (0.4, 0.6),
    "str_grid_dist": (0.35, 0.52),
    "modified_quadratic_assignment": (0.15, 0.26),
}


@pytest.mark.parametrize("name", list(BANDS))
def test_seed_lands_in_the_papers_range(name: str) -> None:
    task = get_task(name)
    evaluation = evaluate(task, task.seed_solution, "test")
    low, high = BANDS[name]
    assert evaluation.failure is None and not evaluation.failures
    assert low <= evaluation.score <= high


@pytest.mark.parametrize("name", ["three_sat", "maxcut"])
def test_slow_seed_times_out_on_every_instance(name: str) -> None:
    task = get_task(name)
    evaluation = evaluate(task, task.seed_solution, "test")
    assert evaluation.score == pytest.approx(task.failure_score)
    assert evaluation.failures == {"timeout": len(task.instances("test", TEST_SECRET))}
