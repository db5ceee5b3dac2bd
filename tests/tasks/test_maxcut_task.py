"""Max-cut: random weighted graphs of the paper's sizes; a cut scores its share of the total weight."""

from __future__ import annotations

import numpy as np
import pytest

from selftaught.tasks import BadOutput, Instance
from selftaught.tasks.maxcut import MaxCutTask
from support import TEST_SECRET


@pytest.fixture(scope="module")
def task() -> MaxCutTask:
    return MaxCutTask()


def slow_cut(adjacency: np.ndarray, sides: list[int]) -> float:
    n = len(sides)
    return float(sum(adjacency[i, j] for i in range(n) for j in range(i + 1, n) if sides[i] != sides[j]))


def test_graphs_are_symmetric_with_weights_1_to_10_and_density_04(task: MaxCutTask) -> None:
    sizes = []
    for instance in task.instances("test", TEST_SECRET)[:30]:
        (adjacency,) = instance.args
        n = adjacency.shape[0]
        sizes.append(n)
        assert 50 <= n <= 200 and adjacency.shape == (n, n)
        assert np.array_equal(adjacency, adjacency.T) and not np.any(np.diag(adjacency))
        weights = adjacency[np.triu_indices(n, k=1)]
        assert set(np.unique(weights)) <= set(range(11))
        assert 0.35 < np.mean(weights > 0) < 0.45
    assert max(sizes) - min(sizes) > 50
    assert task.time_limit == 0.1 and len(task.instances("test", TEST_SECRET)) == 100


def test_a_cut_scores_its_weight_over_the_total_weight(task: MaxCutTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    (adjacency,) = instance.args
    n = adjacency.shape[0]
    sides = [int(v) for v in np.random.default_rng(1).integers(0, 2, n)]
    expected = slow_cut(adjacency, sides) / (adjacency.sum() / 2)
    assert task.score_output(instance, sides, 0.01) == pytest.approx(expected)
    assert task.score_output(instance, np.array(sides, dtype=bool), 0.01) == pytest.approx(expected)
    assert task.score_output(instance, [1 - s for s in sides], 0.01) == pytest.approx(expected)
    assert 0.4 < expected < 0.6


def test_putting_every_node_on_one_side_cuts_nothing(task: MaxCutTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    n = instance.args[0].shape[0]
    assert task.score_output(instance, [0] * n, 0.01) == 0.0
    assert task.clip(task.score_output(instance, [0] * n, 0.01)) == task.failure_score


@pytest.mark.parametrize(
    "bad",
    [
        lambda n: [0] * (n - 1),
        lambda n: [0, 1] * n,
        lambda n: [2] * n,
        lambda n: [-1] * n,
        lambda n: np.zeros((n, 1), dtype=int),
        lambda n: np.zeros((1, n), dtype=int),
        lambda n: ["A"] * n,
        lambda n: 0,
        lambda n: None,
    ],
)
def test_malformed_partitions_are_bad_output(task: MaxCutTask, bad: object) -> None:
    instance = task.instances("test", TEST_SECRET)[0]
    n = instance.args[0].shape[0]
    with pytest.raises(BadOutput, match="sides"):
        task.score_output(instance, bad(n), 0.01)  # type: ignore[operator]


def test_any_graph_with_edges_scores_its_cut_share_and_one_without_edges_scores_full(task: MaxCutTask) -> None:
    single = np.zeros((4, 4))
    single[0, 1] = single[1, 0] = 1.0  # one edge of the lightest weight: total 1
    light = Instance(args=(single,), hidden=1.0)
    assert task.score_output(light, [0, 0, 1, 1], 0.01) == 0.0
    assert task.score_output(light, [0, 1, 1, 1], 0.01) == 1.0
    edgeless = Instance(args=(np.zeros((4, 4)),), hidden=0.0)
    assert task.score_output(edgeless, [0, 1, 0, 1], 0.01) == task.max_score == 1.0


def test_a_cut_keeps_its_share_after_clipping(task: MaxCutTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    n = instance.args[0].shape[0]
    sides = [i % 2 for i in range(n)]
    assert task.clip(task.score_output(instance, sides, 0.01)) == task.score_output(instance, sides, 0.01) > 0.4
    assert task.clip(float("nan")) == 0.01
