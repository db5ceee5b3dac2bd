"""Modified QAP: the paper's objective (elapsed time included), scaled by 1/n^2; only permutations count."""

from __future__ import annotations

import numpy as np
import pytest

from selftaught.tasks import BadOutput, Instance
from selftaught.tasks.quadratic_assignment import ModifiedQuadraticAssignmentTask
from support import TEST_SECRET


@pytest.fixture(scope="module")
def task() -> ModifiedQuadraticAssignmentTask:
    return ModifiedQuadraticAssignmentTask()


def slow_objective(flow: np.ndarray, distance: np.ndarray, preference: np.ndarray, a: list[int]) -> float:
    n = len(a)
    value = sum(flow[i, j] * distance[a[i], a[j]] for i in range(n) for j in range(n))
    return float(value - 0.5 * sum(preference[i, a[i]] for i in range(n)))


def test_instances_are_three_uniform_15_by_15_matrices(task: ModifiedQuadraticAssignmentTask) -> None:
    assert len(task.instances("val", TEST_SECRET)) == 10 and task.time_limit == 0.5
    flow, distance, preference = task.instances("test", TEST_SECRET)[0].args
    for matrix in (flow, distance, preference):
        assert matrix.shape == (15, 15) and matrix.dtype.kind == "f"
        assert matrix.min() >= 0.0 and matrix.max() < 1.0
    assert not np.array_equal(flow, distance)


def test_a_permutation_scores_the_objective_plus_elapsed_over_n_squared(task: ModifiedQuadraticAssignmentTask) -> None:
    instance = task.instances("val", TEST_SECRET)[2]
    a = [int(v) for v in np.random.default_rng(0).permutation(15)]
    flow, distance, preference = instance.args
    expected = (slow_objective(flow, distance, preference, a) + 0.25) / 225
    assert task.score_output(instance, a, 0.25) == pytest.approx(expected)
    assert task.score_output(instance, np.array(a), 0.25) == pytest.approx(expected)


def test_elapsed_time_raises_the_score_as_in_the_paper(task: ModifiedQuadraticAssignmentTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    a = list(range(15))
    assert task.score_output(instance, a, 0.5) - task.score_output(instance, a, 0.0) == pytest.approx(0.5 / 225)


@pytest.mark.parametrize(
    "bad",
    [
        [0, *range(14)],  # a duplicate
        list(range(14)),
        [*range(15), 0],  # the paper's set() check would accept this
        [float(v) for v in range(15)],
        np.arange(15, dtype=float),
        np.arange(15).reshape(15, 1),
        [True, *range(1, 15)],
        list(range(1, 16)),
        [-1, *range(1, 15)],
        "0123456789",
        None,
    ],
)
def test_non_permutations_are_bad_output(task: ModifiedQuadraticAssignmentTask, bad: object) -> None:
    with pytest.raises(BadOutput, match=r"permutation of 0\.\.14"):
        task.score_output(task.instances("test", TEST_SECRET)[1], bad, 0.1)


def test_the_elapsed_time_hole_is_reported_as_known(task: ModifiedQuadraticAssignmentTask) -> None:
    assert len(task.known_holes) == 1 and "elapsed time" in task.known_holes[0]


def test_scores_are_clipped_to_the_failure_score_and_one(task: ModifiedQuadraticAssignmentTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    a = list(range(15))
    assert task.clip(task.score_output(instance, a, 0.1)) == task.score_output(instance, a, 0.1) > 0.1
    ones, zeros = np.ones((15, 15)), np.zeros((15, 15))
    heavy = Instance(args=(ones, ones, zeros))  # every flow over every distance: the objective is 225
    assert task.score_output(heavy, a, 0.5) > 1.0 and task.clip(task.score_output(heavy, a, 0.5)) == 1.0
    assert task.clip(float("nan")) == 0.01
