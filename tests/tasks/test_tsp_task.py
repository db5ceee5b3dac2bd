"""Euclidean TSP: 50..200 uniform points; a tour scores 0.8 x (nearest neighbour + 2-opt length) / its length."""

from __future__ import annotations

import inspect
import math
from functools import cache

import numpy as np
import pytest

from selftaught.evaluate import Evaluation, evaluate
from selftaught.tasks import BadOutput, Instance, SplitSecret
from selftaught.tasks.tsp import TspTask, distance_matrix, nearest_neighbour_tour, reference_tour, tour_length, two_opt
from support import TEST_SECRET
from tasks.test_task_descriptions import stated_constants

#: The seed's val score with TEST_SECRET (docs/tasks.md). The seed is deterministic (nearest neighbour from
#: point 0) and takes at most about 0.05 s of a 0.5 s limit, so nothing but rounding can move it.
SEED_VAL = (0.6901, 0.001)


@pytest.fixture(scope="module")
def task() -> TspTask:
    return TspTask()


@cache
def scored(program: str) -> Evaluation:
    """A program's evaluation on val, through the real sandbox (once per program and test session)."""
    return evaluate(TspTask(), program, "val", secret=TEST_SECRET)


def slow_length(points: np.ndarray, tour: list[int]) -> float:
    return sum(math.dist(points[tour[k]], points[tour[(k + 1) % len(tour)]]) for k in range(len(tour)))


def test_instances_are_50_to_200_uniform_points_in_the_unit_square(task: TspTask) -> None:
    found = [*task.instances("val", TEST_SECRET), *task.instances("test", TEST_SECRET)]
    assert [len(task.instances(split, TEST_SECRET)) for split in ("val", "test")] == [20, 50]
    sizes = []
    for instance in found:
        (points,) = instance.args
        sizes.append(len(points))
        assert points.dtype == np.float64 and points.shape == (len(points), 2) and 50 <= len(points) <= 200
        assert points.min() >= 0.0 and points.max() < 1.0
    assert min(sizes) < 70 and max(sizes) > 180 and 105 < np.mean(sizes) < 145  # uniform on 50..200: mean 125
    coordinates = np.concatenate([instance.args[0] for instance in found]).ravel()
    assert abs(coordinates.mean() - 0.5) < 0.01 and abs(coordinates.std() - math.sqrt(1 / 12)) < 0.01
    assert task.time_limit == 0.5 and task.failure_score == 0.0 and task.max_output_bytes == 1024 + 32 * 200


def test_splits_and_secrets_draw_different_points_and_one_secret_the_same_again(task: TspTask) -> None:
    val, test = task.instances("val", TEST_SECRET), task.instances("test", TEST_SECRET)
    keys = {instance.args[0].tobytes() for instance in [*val, *test]}
    assert len(keys) == len(val) + len(test)  # no instance repeats, within or across splits
    again = TspTask().instances("val", SplitSecret.from_text("selftaught-test-secret", "test"))
    assert all(np.array_equal(a.args[0], b.args[0]) for a, b in zip(val, again, strict=True))
    other = TspTask().instances("val", SplitSecret.from_text("another-secret", "test"))
    assert not any(np.array_equal(a.args[0], b.args[0]) for a, b in zip(val, other, strict=True))


def test_the_reference_length_is_a_2opt_local_optimum_from_nearest_neighbour(task: TspTask) -> None:
    instance = task.instances("val", TEST_SECRET)[3]
    (points,) = instance.args
    tour = reference_tour(points)
    n = len(points)
    assert sorted(tour.tolist()) == list(range(n)) and tour[0] == 0
    assert instance.hidden == pytest.approx(slow_length(points, tour.tolist()), rel=1e-12)
    dist = distance_matrix(points)
    for i in range(n):  # no reversal of tour[i+1..j] shortens it
        for j in range(i + 2, n - (i == 0)):
            a, b, c, d = tour[i], tour[i + 1], tour[j], tour[(j + 1) % n]
            assert dist[a, c] + dist[b, d] - dist[a, b] - dist[c, d] >= -1e-12
    greedy = nearest_neighbour_tour(points)
    assert greedy[0] == 0 and all(  # each step goes to the nearest point not yet visited
        dist[greedy[k - 1], greedy[k]] == min(dist[greedy[k - 1], j] for j in greedy[k:]) for k in range(1, n))
    assert 1.05 < tour_length(points, greedy) / instance.hidden < 1.5  # 2-opt shortens the greedy tour


def test_reference_lengths_follow_the_random_tsp_law_of_about_0_7_sqrt_n(task: TspTask) -> None:
    # Beardwood-Halton-Hammersley: an optimal tour of n uniform points in the unit square is about 0.7124 sqrt(n)
    # for large n, longer for small n (the boundary); 2-opt tours are about 5% above optimal.
    ratios = [instance.hidden / math.sqrt(len(instance.args[0])) for instance in task.instances("test", TEST_SECRET)]
    assert all(0.7 < r < 1.0 for r in ratios) and 0.78 < np.mean(ratios) < 0.88


def test_a_tour_scores_the_reference_score_times_reference_over_its_length(task: TspTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    (points,) = instance.args
    tour = [int(v) for v in np.random.default_rng(0).permutation(len(points))]
    expected = 0.8 * instance.hidden / slow_length(points, tour)
    assert task.score_output(instance, tour, 0.1) == pytest.approx(expected, rel=1e-12)
    assert task.score_output(instance, np.array(tour, dtype=np.int32), 0.1) == pytest.approx(expected, rel=1e-12)
    rotated_reversed = (tour[5:] + tour[:5])[::-1]  # the same cycle: the same length
    assert task.score_output(instance, rotated_reversed, 0.1) == pytest.approx(expected, rel=1e-12)
    assert 0.05 < expected < 0.2  # a random order is several times longer than the reference
    assert task.score_output(instance, reference_tour(points).tolist(), 0.1) == 0.8


def test_shorter_tours_score_higher_and_the_optimum_stays_below_one(task: TspTask) -> None:
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    square = Instance(args=(corners,), hidden=4.0)  # the reference of a square: its perimeter
    assert task.score_output(square, [0, 1, 2, 3], 0.0) == 0.8
    assert task.score_output(square, [0, 2, 1, 3], 0.0) == pytest.approx(0.8 * 4 / (2 + 2 * math.sqrt(2)))
    instance = task.instances("test", TEST_SECRET)[0]
    (points,) = instance.args
    lengths = {"identity": list(range(len(points))), "greedy": nearest_neighbour_tour(points).tolist(),
               "2-opt": reference_tour(points).tolist()}
    scores = {name: task.score_output(instance, tour, 0.1) for name, tour in lengths.items()}
    assert scores["identity"] < scores["greedy"] < scores["2-opt"] == 0.8
    # 2-opt from a random start, kept if shorter than the reference: a good tour still scores well below 1.
    better = two_opt(points, np.random.default_rng(1).permutation(len(points)))
    assert task.score_output(instance, better.tolist(), 0.1) < 0.9


def test_scores_are_clipped_to_zero_and_one(task: TspTask) -> None:
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    generous = Instance(args=(corners,), hidden=10.0)  # a reference far longer than the perimeter
    assert task.score_output(generous, [0, 1, 2, 3], 0.0) == 2.0 and task.clip(2.0) == 1.0
    assert task.clip(float("nan")) == 0.0
    assert task.score_output(Instance(args=(np.zeros((3, 2)),), hidden=0.0), [2, 0, 1], 0.0) == 1.0


@pytest.mark.parametrize(
    "bad",
    [
        lambda n: [0, *range(n - 1)],  # a repeated point
        lambda n: list(range(n - 1)),  # one missing
        lambda n: [*range(n), 0],  # closed back to the start
        lambda n: list(range(1, n + 1)),
        lambda n: [-1, *range(1, n)],
        lambda n: [float(v) for v in range(n)],
        lambda n: np.arange(n, dtype=float),
        lambda n: np.arange(n).reshape(n, 1),
        lambda n: [True, *range(1, n)],
        lambda n: [str(v) for v in range(n)],
        lambda n: {"tour": list(range(n))},
        lambda n: n,
        lambda n: None,
    ],
)
def test_anything_but_a_permutation_of_the_points_is_bad_output(task: TspTask, bad: object) -> None:
    instance = task.instances("test", TEST_SECRET)[1]
    n = len(instance.args[0])
    with pytest.raises(BadOutput, match=rf"permutation of 0\.\.{n - 1}"):
        task.score_output(instance, bad(n), 0.1)  # type: ignore[operator]


def test_the_description_states_the_real_limits_sizes_and_score_map(task: TspTask) -> None:
    stated = stated_constants(task.description)
    real = {"TIME_LIMIT": 0.5, "LOAD_TIME_LIMIT": 5.0, "FAILURE_SCORE": 0.0, "N_INSTANCES": 20,
            "N_TEST_INSTANCES": 50, "min_points": 50, "max_points": 200, "reference_score": 0.8}
    assert {name: stated.get(name) for name in real} == real
    assert real == {"TIME_LIMIT": task.time_limit, "LOAD_TIME_LIMIT": task.load_time_limit,
                    "FAILURE_SCORE": task.failure_score, "N_INSTANCES": task.split_sizes["val"],
                    "N_TEST_INSTANCES": task.split_sizes["test"], "min_points": task.min_points,
                    "max_points": task.max_points, "reference_score": task.reference_score}
    assert "nearest neighbour" in task.description and "2-opt" in task.description


def test_the_seed_is_nearest_neighbour_and_scores_the_documented_value(task: TspTask) -> None:
    evaluation = scored(task.seed_solution)
    assert evaluation.failure is None and evaluation.failures == {}
    assert evaluation.score == pytest.approx(SEED_VAL[0], abs=SEED_VAL[1])
    for outcome, instance in zip(evaluation.outcomes, task.instances("val", TEST_SECRET), strict=True):
        (points,) = instance.args
        greedy = task.score_output(instance, nearest_neighbour_tour(points).tolist(), 0.0)
        assert outcome.score == pytest.approx(greedy, rel=1e-9)  # exactly the greedy tour's score
        assert 0.55 < outcome.score < 0.8


def test_the_reference_run_as_a_candidate_scores_exactly_the_reference_score_within_the_limit() -> None:
    functions = (distance_matrix, nearest_neighbour_tour, two_opt, reference_tour)
    program = "\n\n".join(["from __future__ import annotations\nimport numpy as np",
                           *(inspect.getsource(f) for f in functions),
                           "def algorithm(points):\n    return reference_tour(points)\n"])
    evaluation = scored(program)
    assert evaluation.failure is None and evaluation.failures == {}
    assert [outcome.score for outcome in evaluation.outcomes] == [0.8] * 20
