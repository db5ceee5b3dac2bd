"""String grid distance: given t and a distance, find an A/B string s at exactly that distance from t."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np

from selftaught.tasks._base import BadOutput, Instance, Task
from selftaught.tasks._common import describe, output_bytes, read_data


def grid_dist(s: str, t: str) -> int:
    """Positions where s and t differ, plus adjacent changes within s, plus adjacent changes within t."""
    return (
        sum(a != b for a, b in zip(s, t, strict=True))
        + sum(a != b for a, b in pairwise(s))
        + sum(a != b for a, b in pairwise(t))
    )


class StrGridDistTask(Task):
    """Instances: t a random A/B string of length 1..30, dist = grid_dist(s, t) for a random s."""

    name = "str_grid_dist"
    summary = "string grid distance: return an A/B string at a given grid distance from t"
    entrypoint = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 50, "test": 100}
    split_seeds: Mapping[str, int] = {"val": 4321, "test": 5678}
    time_limit = 0.1
    failure_score = 0.0
    max_score = 1.0

    min_length: int = 1
    max_length: int = 30
    max_output_bytes = output_bytes(max_length)  # one letter per position of t

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def _random_string(self, rng: np.random.Generator, length: int) -> str:
        return "".join("AB"[int(bit)] for bit in rng.integers(0, 2, size=length))

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        length = int(rng.integers(self.min_length, self.max_length + 1))
        t = self._random_string(rng, length)
        s = self._random_string(rng, length)
        dist = grid_dist(s, t)
        return Instance(args=(t, dist), hidden=s)

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        t, dist = str(instance.args[0]), int(instance.args[1])
        if not isinstance(output, str) or len(output) != len(t) or not set(output) <= {"A", "B"}:
            raise BadOutput(f"expected a string of {len(t)} letters A and B; got {describe(output)}")
        d = grid_dist(output, t)
        if d == dist:
            return 1.0
        return 0.5 - abs(d - dist) / (6 * len(t))
