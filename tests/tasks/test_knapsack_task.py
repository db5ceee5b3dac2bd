"""0/1 knapsack: Pisinger's three instance classes, a choice scored by its value over the exact optimum, a choice
over the capacity invalid with the reason; the seed and the classic ratio greedy pinned."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import numpy as np
import pytest

from selftaught.evaluate import evaluate
from selftaught.tasks import BadOutput, Instance, get_task
from selftaught.tasks.knapsack import KnapsackTask, optimum
from support import TEST_SECRET

GREEDY = """import numpy as np
def algorithm(weights, values, capacity):
    chosen, load = np.zeros(len(weights), dtype=int), 0
    for i in np.argsort(-values / weights, kind="stable"):
        if load + weights[i] <= capacity:
            chosen[i], load = 1, load + weights[i]
    return chosen
"""


@pytest.fixture(scope="module")
def task() -> KnapsackTask:
    return KnapsackTask()


def test_instances_are_pisingers_classes_of_50_to_200_items(task: KnapsackTask) -> None:
    val, test = task.instances("val", TEST_SECRET), task.instances("test", TEST_SECRET)
    assert (len(val), len(test)) == (30, 60)
    classes: Counter[str] = Counter()
    for instance in val + test:
        weights, values, capacity = instance.args
        assert 50 <= len(weights) == len(values) <= 200 and weights.dtype == values.dtype == np.int64
        assert weights.min() >= 1 and weights.max() <= 100 and values.min() >= 1
        assert 0.19 * weights.sum() <= capacity <= 0.8 * weights.sum() and isinstance(capacity, int)
        kind = instance.hidden["class"]
        classes[kind] += 1
        if kind == "strongly_correlated":
            assert np.array_equal(values, weights + 10)
        elif kind == "weakly_correlated":
            assert np.all(np.abs(values - weights) <= 10)
    assert set(classes) == {"uncorrelated", "weakly_correlated", "strongly_correlated"} and min(classes.values()) > 15
    digests = {tuple(i.args[0][:5]) for i in val} & {tuple(i.args[0][:5]) for i in test}
    assert not digests  # val and test are different instances


def test_the_optimum_is_exact_on_small_instances() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 11))
        weights, values = rng.integers(1, 20, n), rng.integers(1, 20, n)
        capacity = int(rng.integers(0, 60))
        brute = max(sum(int(v) for v, c in zip(values, choice, strict=True) if c)
                    for choice in itertools.product((0, 1), repeat=n)
                    if sum(int(w) for w, c in zip(weights, choice, strict=True) if c) <= capacity)
        assert optimum(weights, values, capacity) == brute


def test_a_choice_scores_its_value_over_the_optimum_and_one_over_the_capacity_is_refused(task: KnapsackTask) -> None:
    weights, values = np.array([5, 4, 3, 2], dtype=np.int64), np.array([10, 40, 30, 50], dtype=np.int64)
    instance = Instance(args=(weights, values, 6), hidden={"optimum": optimum(weights, values, 6), "class": "x"})
    assert instance.hidden["optimum"] == 90  # items 1 and 3: weight 6
    assert task.score_output(instance, [0, 1, 0, 1], 0.0) == 1.0
    assert task.score_output(instance, np.array([0, 0, 1, 1]), 0.0) == pytest.approx(80 / 90)
    assert task.score_output(instance, [0, 0, 0, 0], 0.0) == 0.0
    with pytest.raises(BadOutput, match="weigh 9, over the capacity of 6"):
        task.score_output(instance, [1, 1, 0, 0], 0.0)
    for bad in ([1, 0, 1], [0, 1, 2, 0], "0101", [0.5, 0, 0, 0], None):
        with pytest.raises(BadOutput):
            task.score_output(instance, bad, 0.0)


def test_the_description_states_the_codes_limits_and_distribution(task: KnapsackTask) -> None:
    text = task.description
    constants = {name: float(value) for name, value in re.findall(r"^([A-Z_]+) = ([0-9.]+)", text, re.M)}
    assert constants == {"TIME_LIMIT": task.time_limit, "LOAD_TIME_LIMIT": task.load_time_limit,
                         "FAILURE_SCORE": task.failure_score, "N_INSTANCES": task.split_sizes["val"],
                         "N_TEST_INSTANCES": task.split_sizes["test"]}
    assert "min_items = 50\n" in text and "max_items = 200\n" in text and "uniform(0.2, 0.8)" in text


def test_the_seed_and_the_ratio_greedy_score_what_docs_tasks_says() -> None:
    task = get_task("knapsack")
    seed = evaluate(task, task.seed_solution, "val", secret=TEST_SECRET)
    greedy = evaluate(task, GREEDY, "val", secret=TEST_SECRET)
    assert seed.failures == {} and seed.score == pytest.approx(0.818, abs=0.001)  # deterministic: no timing near
    assert greedy.failures == {} and greedy.score == pytest.approx(0.9975, abs=0.001)  # the limit, no randomness
