"""String grid distance: the distance itself, the paper's partial-credit formula, strict outputs."""

from __future__ import annotations

import pytest

from selftaught.tasks import BadOutput
from selftaught.tasks.str_grid_dist import StrGridDistTask, grid_dist
from support import TEST_SECRET


@pytest.fixture(scope="module")
def task() -> StrGridDistTask:
    return StrGridDistTask()


def test_grid_dist_counts_mismatches_and_changes_within_each_string() -> None:
    assert grid_dist("A", "A") == 0
    assert grid_dist("AB", "BA") == 2 + 1 + 1
    assert grid_dist("AAAA", "ABAB") == 2 + 0 + 3
    assert grid_dist("ABBA", "ABBA") == 0 + 2 + 2


def test_instances_are_ab_strings_of_length_1_to_30(task: StrGridDistTask) -> None:
    lengths = set()
    for instance in task.instances("test", TEST_SECRET):
        t, dist = instance.args
        assert isinstance(t, str) and set(t) <= {"A", "B"} and isinstance(dist, int)
        assert grid_dist(instance.hidden, t) == dist
        lengths.add(len(t))
    assert min(lengths) >= 1 and max(lengths) <= 30 and len(lengths) > 10
    assert task.time_limit == 0.1 and len(task.instances("val", TEST_SECRET)) == 50


def test_a_string_at_the_exact_distance_scores_one(task: StrGridDistTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    assert task.score_output(instance, instance.hidden, 0.01) == 1.0


def test_a_string_at_another_distance_gets_the_papers_partial_credit(task: StrGridDistTask) -> None:
    for instance in task.instances("val", TEST_SECRET)[:20]:
        t, dist = instance.args
        d = grid_dist(t, t)
        expected = 1.0 if d == dist else 0.5 - abs(d - dist) / (6 * len(t))
        score = task.score_output(instance, t, 0.01)
        assert score == pytest.approx(expected)
        assert 0.0 < score <= 1.0


@pytest.mark.parametrize(
    "bad",
    [
        lambda t: t + "A",
        lambda t: t[:-1],
        lambda t: t.lower(),
        lambda t: "C" * len(t),
        lambda t: list(t),
        lambda t: None,
    ],
)
def test_malformed_strings_are_bad_output(task: StrGridDistTask, bad: object) -> None:
    instance = task.instances("test", TEST_SECRET)[4]
    with pytest.raises(BadOutput, match="letters A and B"):
        task.score_output(instance, bad(instance.args[0]), 0.0)  # type: ignore[operator]


def test_scores_are_clipped_to_zero_to_one_and_a_failure_scores_zero(task: StrGridDistTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    assert task.clip(task.score_output(instance, instance.hidden, 0.01)) == 1.0
    assert task.clip(float("nan")) == 0.0 and task.clip(-3.0) == 0.0
