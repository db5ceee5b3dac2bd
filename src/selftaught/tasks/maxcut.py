"""Weighted max-cut on random dense graphs: split the nodes in two to maximise the crossing weight."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from selftaught.tasks._base import Instance, Task
from selftaught.tasks._common import binary_vector, output_bytes, read_data


def cut_weight(adjacency: npt.NDArray[np.float64], sides: npt.NDArray[np.int64]) -> float:
    """Total weight of the edges whose two ends are on different sides."""
    crossing = sides[:, None] != sides[None, :]
    return float(np.sum(adjacency[crossing])) / 2.0


class MaxCutTask(Task):
    """Instances: 50..200 nodes, each pair joined with probability 0.4, integer weights 1..10.

    An instance scores the cut's weight divided by the graph's total edge weight, so it lies in
    [0, 1]: a random split gets about 0.5. (The paper divides the summed cut weight by the largest
    edge weight, 10, which is not bounded by 1; this keeps its ranking and puts it on our scale.)
    """

    name = "maxcut"
    summary = "max-cut: split a weighted graph of 50..200 nodes into two sides, within 0.1 s"
    entrypoint = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 50, "test": 100}
    split_seeds: Mapping[str, int] = {"val": 4321, "test": 5678}
    time_limit = 0.1
    failure_score = 0.01
    max_score = 1.0

    min_nodes: int = 50
    max_nodes: int = 200
    p_edge: float = 0.4
    max_weight: int = 10
    max_output_bytes = output_bytes(max_nodes)  # one side per node

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        n = int(rng.integers(self.min_nodes, self.max_nodes + 1))
        upper = np.triu(rng.random((n, n)) < self.p_edge, k=1)
        weights = rng.integers(1, self.max_weight + 1, size=(n, n)).astype(np.float64)
        adjacency = np.where(upper, weights, 0.0)
        adjacency = adjacency + adjacency.T
        return Instance(args=(adjacency,), hidden=float(np.sum(adjacency)) / 2.0)

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        (adjacency,) = instance.args
        sides = binary_vector(output, adjacency.shape[0], "sides (one per node)")
        total = float(instance.hidden)
        return cut_weight(adjacency, sides) / total if total > 0 else self.max_score
