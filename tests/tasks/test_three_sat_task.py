"""3-SAT: planted-satisfiable formulas of the paper's sizes; only exact-length satisfying assignments count."""

from __future__ import annotations

import numpy as np
import pytest

from selftaught.tasks import BadOutput
from selftaught.tasks.three_sat import ThreeSatTask, satisfies
from support import TEST_SECRET


@pytest.fixture(scope="module")
def task() -> ThreeSatTask:
    return ThreeSatTask()


def test_formulas_have_4n_clauses_of_3_distinct_variables(task: ThreeSatTask) -> None:
    sizes = []
    for instance in task.instances("test", TEST_SECRET):
        (formula,) = instance.args
        n = len(instance.hidden) - 1
        sizes.append(n)
        assert 5 <= n <= 50 and len(formula) == 4 * n
        for clause in formula:
            assert len(clause) == 3 and len({abs(lit) for lit in clause}) == 3
            assert all(isinstance(lit, int) and lit != 0 and abs(lit) <= n for lit in clause)
        assert satisfies(formula, instance.hidden)
    assert min(sizes) < 15 and max(sizes) > 40
    assert task.time_limit == 0.1 and len(task.instances("val", TEST_SECRET)) == 30


def test_the_planted_assignment_solves_its_formula(task: ThreeSatTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    planted = instance.hidden
    assert task.score_output(instance, planted, 0.01) == 1.0
    assert task.score_output(instance, [None, *planted[1:]], 0.01) == 1.0  # entry 0 is ignored
    assert task.score_output(instance, np.array(planted), 0.01) == 1.0
    assert task.score_output(instance, [int(v) for v in planted], 0.01) == 1.0


def test_an_assignment_that_breaks_a_clause_scores_like_a_failure(task: ThreeSatTask) -> None:
    instance = task.instances("val", TEST_SECRET)[1]
    (formula,) = instance.args
    wrong = [False] + [not v for v in instance.hidden[1:]]
    assert not satisfies(formula, wrong)
    assert task.score_output(instance, wrong, 0.01) == task.failure_score == 0.01


@pytest.mark.parametrize(
    "bad",
    [
        lambda p: p[1:],  # 0-based: one entry short
        lambda p: [*p, True],
        lambda p: [p[0], *[2 if v else 0 for v in p[1:]]],
        lambda p: [str(v) for v in p],
        lambda p: np.array(p).reshape(-1, 1),
        lambda p: {str(i): v for i, v in enumerate(p)},
        lambda p: None,
    ],
)
def test_malformed_assignments_are_bad_output(task: ThreeSatTask, bad: object) -> None:
    instance = task.instances("test", TEST_SECRET)[0]
    with pytest.raises(BadOutput, match="expected an assignment"):
        task.score_output(instance, bad(list(instance.hidden)), 0.01)  # type: ignore[operator]


def test_bad_output_states_the_expected_length_and_what_came(task: ThreeSatTask) -> None:
    instance = task.instances("test", TEST_SECRET)[0]
    planted = list(instance.hidden)
    n = len(planted) - 1
    expected = rf"^expected an assignment of length {n + 1} \(entry 0 ignored, entries 1\.\.{n} each 0/1 or a bool\); "
    with pytest.raises(BadOutput, match=expected + rf"got a numpy bool array of shape \({n + 1}, 1\)$"):
        task.score_output(instance, np.array(planted).reshape(-1, 1), 0.01)
    with pytest.raises(BadOutput, match=expected + rf"got a list of {n} items"):
        task.score_output(instance, planted[1:], 0.01)
    with pytest.raises(BadOutput, match=expected + "got other values$"):
        task.score_output(instance, [None, *[2 if v else 0 for v in planted[1:]]], 0.01)


def test_only_numeric_arrays_count_as_assignments(task: ThreeSatTask) -> None:
    instance = task.instances("test", TEST_SECRET)[0]
    planted = list(instance.hidden)
    assert task.score_output(instance, np.array(planted, dtype=float), 0.01) == 1.0
    for array in (np.array(planted, dtype=object), np.array([str(int(v)) for v in planted])):
        with pytest.raises(BadOutput, match=r"expected an assignment .*; got a numpy"):
            task.score_output(instance, array, 0.01)
    with pytest.raises(BadOutput, match=r"expected an assignment .*; got other values$"):
        task.score_output(instance, [None, *[np.array(int(v)) for v in planted[1:]]], 0.01)  # 0-d arrays in a list


def test_a_solved_formula_keeps_its_full_score_after_clipping(task: ThreeSatTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    assert task.clip(task.score_output(instance, instance.hidden, 0.01)) == 1.0
    assert task.clip(float("nan")) == 0.01
