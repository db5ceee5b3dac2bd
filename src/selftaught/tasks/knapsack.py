"""0/1 knapsack on Pisinger's classic instance classes: choose items within a capacity, scored against the optimum."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from selftaught.tasks._base import BadOutput, Instance, Task, mean_measure
from selftaught.tasks._common import binary_vector, output_bytes, read_data

CLASSES = ("uncorrelated", "weakly_correlated", "strongly_correlated")


def optimum(weights: npt.NDArray[np.int64], values: npt.NDArray[np.int64], capacity: int) -> int:
    """The best total value of items within `capacity` (dynamic programming over capacities: exact)."""
    best = np.zeros(capacity + 1, dtype=np.int64)
    for weight, value in zip(weights.tolist(), values.tolist(), strict=True):
        if weight <= capacity:
            best[weight:] = np.maximum(best[weight:], best[: capacity + 1 - weight] + value)
    return int(best[capacity])


class KnapsackTask(Task):
    """Instances: 50..200 items of integer weight 1..100; values by one of Pisinger's three classic classes
    (uncorrelated: 1..100; weakly correlated: the weight plus -10..10, at least 1; strongly correlated: the weight
    plus 10), drawn with equal chance; the capacity a uniform 20 % to 80 % of the total weight.

    An instance scores the chosen items' total value divided by the optimum (computed exactly by dynamic
    programming), so it lies in [0, 1] and 1 is optimal; the source's measure, the optimality gap, is 1 minus it.
    A choice over the capacity is invalid (the failure score, with the reason).
    """

    name = "knapsack"
    summary = "0/1 knapsack: choose items of 50..200 within a capacity, scored against the optimum, within 0.2 s"
    entrypoint = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 30, "test": 60}
    split_seeds: Mapping[str, int] = {"val": 9103, "test": 9104}
    time_limit = 0.2
    failure_score = 0.0
    max_score = 1.0

    min_items: int = 50
    max_items: int = 200
    max_weight: int = 100
    max_output_bytes = output_bytes(max_items)  # one 0/1 per item

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        n = int(rng.integers(self.min_items, self.max_items + 1))
        weights = rng.integers(1, self.max_weight + 1, size=n).astype(np.int64)
        kind = CLASSES[int(rng.integers(0, len(CLASSES)))]
        if kind == "uncorrelated":
            values = rng.integers(1, self.max_weight + 1, size=n).astype(np.int64)
        elif kind == "weakly_correlated":
            values = np.maximum(1, weights + rng.integers(-10, 11, size=n)).astype(np.int64)
        else:
            values = weights + 10
        capacity = int(rng.uniform(0.2, 0.8) * int(weights.sum()))
        return Instance(args=(weights, values, capacity), hidden={"optimum": optimum(weights, values, capacity),
                                                                 "class": kind})

    def source_measure(self, instances: Sequence[Instance], scores: Sequence[float | None]) -> dict[str, Any] | None:
        """The suites' figure: the mean optimality gap, in percent, over the valid choices."""
        return mean_measure("optimality gap (%)", [100 * (1.0 - s) for s in scores if s is not None],
                            "lower is better: 1 - value / optimum, the mean over the instances given a choice within "
                            "the capacity")

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        weights, values, capacity = instance.args
        chosen = binary_vector(output, len(weights), "choices (one per item)")
        load = int(np.dot(chosen, weights))
        if load > capacity:
            raise BadOutput(f"the chosen items weigh {load}, over the capacity of {capacity}")
        best = int(instance.hidden["optimum"])
        return float(np.dot(chosen, values)) / best if best > 0 else self.max_score
