"""The paper's modified quadratic assignment problem: assign n facilities to n locations.

The objective is kept exactly as the paper scores it (higher is better, and the candidate's own
elapsed time is added to it), so results stay comparable. Adding elapsed time rewards a slow
candidate: a known reward-hacking hole, small here (at most 0.5 / 225 per instance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from selftaught.tasks._base import Instance, Task
from selftaught.tasks._common import output_bytes, permutation, read_data


class ModifiedQuadraticAssignmentTask(Task):
    """Instances: flow F, distance D and preference P, three uniform random n x n matrices."""

    name = "modified_quadratic_assignment"
    summary = "modified quadratic assignment: a permutation of 15 facilities scored by the paper's objective"
    known_holes = (
        "the paper's objective adds the candidate's elapsed time to the score, so slower solutions "
        "score higher (kept for comparability with the paper; worth at most 0.5/225 per instance)",
    )
    entrypoint = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 10, "test": 20}
    split_seeds: Mapping[str, int] = {"val": 4321, "test": 5678}
    time_limit = 0.5
    failure_score = 0.01
    max_score = 1.0

    n: int = 15
    preference_weight: float = 0.5
    max_output_bytes = output_bytes(n)  # one location per facility

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        flow, distance, preference = (rng.random((self.n, self.n)) for _ in range(3))
        return Instance(args=(flow, distance, preference))

    def objective(self, flow: Any, distance: Any, preference: Any, assignment: Any) -> float:
        """sum F[i, j] * D[a[i], a[j]] - 0.5 * sum P[i, a[i]] for an assignment a (a permutation)."""
        a = np.asarray(assignment)
        placed = distance[np.ix_(a, a)]
        return float(np.sum(flow * placed) - self.preference_weight * np.sum(preference[np.arange(self.n), a]))

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        assignment = permutation(output, self.n)
        flow, distance, preference = instance.args
        return (self.objective(flow, distance, preference, assignment) + elapsed) / (self.n * self.n)
