"""What each built-in task's instances look like, pinned: a change of difficulty cannot pass unnoticed.

For a fixed split secret, the instances of every split are checked against the paper's parameters, written
here as literals (not read from the task, so a changed parameter fails): sizes, densities, label balance,
noise, and solvability where it applies. The tolerances are several standard deviations of the statistic
over all instances of both splits, so they hold for any secret and catch any real change of the parameters;
the ends of size ranges are checked as this test's secret draws them.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from selftaught.tasks import Instance, get_task
from selftaught.tasks.str_grid_dist import grid_dist
from selftaught.tasks.three_sat import satisfies
from support import TEST_SECRET


def instances(name: str) -> list[Instance]:
    task = get_task(name)
    return [*task.instances("val", TEST_SECRET), *task.instances("test", TEST_SECRET)]


@pytest.mark.parametrize("name, val, test", [
    ("parity_noise", 20, 50), ("parity_noiseless", 20, 50), ("three_sat", 30, 50), ("maxcut", 50, 100),
    ("modified_quadratic_assignment", 10, 20), ("str_grid_dist", 50, 100),
])
def test_each_split_has_the_papers_number_of_instances(name: str, val: int, test: int) -> None:
    task = get_task(name)
    assert (len(task.instances("val", TEST_SECRET)), len(task.instances("test", TEST_SECRET))) == (val, test)


ALL_SECRETS = np.array(list(itertools.product([0, 1], repeat=10)), dtype=np.int64)  # 1024 x 10


def _secret_of(instance: Instance) -> tuple[np.ndarray, int]:
    """The parity secret behind an instance (its test labels are noiseless), and its training labels' flips."""
    train_x, train_y, test_x = instance.args
    test_y = np.asarray(instance.hidden)
    consistent = ALL_SECRETS[np.all((test_x @ ALL_SECRETS.T) % 2 == test_y[:, None], axis=0)]
    assert len(consistent) >= 1  # the labels come from a parity
    flips = ((train_x @ consistent.T) % 2 != train_y[:, None]).sum(axis=0)
    best = int(np.argmin(flips))
    return consistent[best], int(flips[best])


@pytest.mark.parametrize("name, noise", [("parity_noise", 0.05), ("parity_noiseless", 0.0)])
def test_parity_instances_have_the_papers_sizes_secret_density_noise_and_balanced_labels(name: str,
                                                                                          noise: float) -> None:
    found = instances(name)
    secrets, flips, labels = [], 0, []
    for instance in found:
        train_x, train_y, test_x = instance.args
        assert train_x.shape == (100, 10) and train_y.shape == (100,) and test_x.shape == (20, 10)
        assert set(np.unique(train_x)) <= {0, 1} and set(np.unique(train_y)) <= {0, 1}
        secret, flipped = _secret_of(instance)
        secrets.append(secret)
        flips += flipped
        labels.extend(np.asarray(instance.hidden).tolist())
    density = float(np.mean(secrets))  # the paper's secret density 0.3: 700 bits, sd 0.017
    assert 0.23 <= density <= 0.37, density
    rate = flips / (100 * len(found))  # the training labels' noise: 7000 labels, sd 0.0026 at 0.05
    assert abs(rate - noise) <= 0.015, rate
    assert 0.42 <= float(np.mean(labels)) <= 0.56  # balanced labels (all-zero secrets give some zeros)


def test_three_sat_formulas_are_planted_3sat_with_4n_clauses_over_5_to_50_variables() -> None:
    sizes, negated, literals = [], 0, 0
    for instance in instances("three_sat"):
        (formula,) = instance.args
        planted = instance.hidden
        n = len(planted) - 1
        sizes.append(n)
        assert len(formula) == 4 * n
        for clause in formula:
            assert len(clause) == 3 and len({abs(lit) for lit in clause}) == 3
            assert all(1 <= abs(lit) <= n for lit in clause)
            negated += sum(lit < 0 for lit in clause)
            literals += 3
        assert satisfies(formula, planted)  # solvable: the planted assignment satisfies it
    assert (min(sizes), max(sizes)) == (5, 50)  # both ends of the range are drawn with this secret
    assert 0.47 <= negated / literals <= 0.53, negated / literals  # about 14,000 literals, sd 0.004


def test_three_sat_draws_its_variables_uniformly_from_1_to_n() -> None:
    # 12n literals over n variables: each variable appears 12 times per formula on average, the first and
    # the last too (80 formulas: 960 each, sd about 30), and every variable of 1..n is used in nearly all.
    first, last, unused = 0, 0, 0
    for instance in instances("three_sat"):
        (formula,) = instance.args
        n = len(instance.hidden) - 1
        used = [abs(lit) for clause in formula for lit in clause]
        first += used.count(1)
        last += used.count(n)
        unused += n - len(set(used))
    assert 800 <= first <= 1120 and 800 <= last <= 1120, (first, last)
    assert unused <= 2, unused  # about e^-12 of some 2,200 variables go unused


def test_maxcut_graphs_have_50_to_200_nodes_edge_density_04_and_weights_1_to_10() -> None:
    sizes, edges, pairs, weights, neighbours = [], 0, 0, [], 0
    for instance in instances("maxcut"):
        (adjacency,) = instance.args
        n = adjacency.shape[0]
        sizes.append(n)
        assert adjacency.shape == (n, n) and np.array_equal(adjacency, adjacency.T)
        assert not np.any(np.diag(adjacency))
        upper = adjacency[np.triu_indices(n, k=1)]
        present = upper[upper > 0]
        edges += len(present)
        pairs += len(upper)
        weights.extend(present.tolist())
        neighbours += int(np.count_nonzero(np.diag(adjacency, k=1)))
        assert instance.hidden == pytest.approx(float(upper.sum()))  # the total weight, which scores normalise by
    assert min(sizes) >= 50 and max(sizes) == 200 and min(sizes) <= 60  # this secret draws 52..200
    assert abs(edges / pairs - 0.4) <= 0.01, edges / pairs
    # every pair can be joined, neighbours in node order too: pairs (i, i + 1), 18,600 of them, sd 0.004
    assert abs(neighbours / (sum(sizes) - len(sizes)) - 0.4) <= 0.02, neighbours / (sum(sizes) - len(sizes))
    assert set(weights) == set(range(1, 11)) and abs(float(np.mean(weights)) - 5.5) <= 0.1


SIZE_OF = {
    "maxcut": lambda instance: instance.args[0].shape[0],
    "three_sat": lambda instance: len(instance.hidden) - 1,
    "str_grid_dist": lambda instance: len(instance.args[0]),
}


@pytest.mark.parametrize("name, low, high", [("maxcut", 50, 200), ("three_sat", 5, 50), ("str_grid_dist", 1, 30)])
def test_sizes_are_drawn_from_exactly_the_papers_range(name: str, low: int, high: int) -> None:
    # A split's instances need not reach both ends (this secret's maxcut graphs have 52..200 nodes), so draw
    # 1,500 more: each end of a range of at most 151 sizes comes up about 10 times, a size beyond it as often.
    task, rng = get_task(name), np.random.default_rng(2024)
    sizes = [SIZE_OF[name](task.make_instance(rng, i)) for i in range(1500)]
    assert (min(sizes), max(sizes)) == (low, high)


def test_quadratic_assignment_instances_are_three_uniform_15x15_matrices() -> None:
    values: list[Any] = []
    for instance in instances("modified_quadratic_assignment"):
        assert len(instance.args) == 3
        for matrix in instance.args:
            assert matrix.shape == (15, 15) and matrix.min() >= 0.0 and matrix.max() < 1.0
            values.append(matrix)
    assert abs(float(np.mean(values)) - 0.5) <= 0.02  # 30 instances x 675 values, sd 0.002


def test_str_grid_dist_instances_are_ab_strings_of_1_to_30_letters_with_a_reachable_distance() -> None:
    lengths, letters = [], []
    for instance in instances("str_grid_dist"):
        t, dist = instance.args
        s = instance.hidden
        assert isinstance(t, str) and isinstance(s, str) and len(s) == len(t)
        assert set(t) <= {"A", "B"} and set(s) <= {"A", "B"}
        assert dist == grid_dist(s, t)  # solvable: the hidden string is at that distance
        lengths.append(len(t))
        letters.extend(t)
    assert (min(lengths), max(lengths)) == (1, 30)  # both ends of the range are drawn with this secret
    assert 0.45 <= letters.count("A") / len(letters) <= 0.55
