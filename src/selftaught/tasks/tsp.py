"""Euclidean TSP on random points in the unit square: a tour scored against a nearest-neighbour + 2-opt tour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from selftaught.tasks._base import Instance, Task, mean_measure
from selftaught.tasks._common import output_bytes, permutation, read_data


def distance_matrix(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Euclidean distances between every two points (an n x n array)."""
    diff = points[:, None, :] - points[None, :, :]
    return np.asarray(np.sqrt(np.sum(diff * diff, axis=-1)), dtype=np.float64)


def tour_length(points: npt.NDArray[np.float64], tour: npt.NDArray[np.int64]) -> float:
    """The length of the closed tour visiting `points` in the order `tour` (back to its start at the end)."""
    ordered = points[tour]
    steps = ordered - np.roll(ordered, -1, axis=0)
    return float(np.sum(np.sqrt(np.sum(steps * steps, axis=1))))


def nearest_neighbour_tour(points: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """From point 0, always to the nearest point not yet visited (ties: the lowest index)."""
    n = len(points)
    dist = distance_matrix(points)
    visited = np.zeros(n, dtype=bool)
    tour = np.zeros(n, dtype=np.int64)
    visited[0] = True
    for k in range(1, n):
        row = np.where(visited, np.inf, dist[tour[k - 1]])
        tour[k] = int(np.argmin(row))
        visited[tour[k]] = True
    return tour


def two_opt(points: npt.NDArray[np.float64], tour: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Best-improvement 2-opt: reverse the segment whose reversal shortens the tour most, until none does.

    Edge i joins tour[i] and tour[i+1]; replacing edges i and j (i < j) by (tour[i], tour[j]) and
    (tour[i+1], tour[j+1]) reverses tour[i+1..j]. A move counts only if it shortens the tour by more than 1e-12.
    """
    n = len(tour)
    dist = distance_matrix(points)
    tour = tour.copy()
    allowed = np.triu(np.ones((n, n), dtype=bool), k=2)
    allowed[0, n - 1] = False  # edges 0 and n-1 share tour[0]
    while True:
        a, b = tour, np.roll(tour, -1)
        edge = dist[a, b]
        gain = dist[a[:, None], a[None, :]] + dist[b[:, None], b[None, :]] - edge[:, None] - edge[None, :]
        gain = np.where(allowed, gain, np.inf)
        best = int(np.argmin(gain))
        i, j = divmod(best, n)
        if not gain[i, j] < -1e-12:
            return tour
        tour[i + 1:j + 1] = tour[i + 1:j + 1][::-1].copy()


def reference_tour(points: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The trusted reference: the nearest-neighbour tour from point 0, improved by 2-opt until no move helps."""
    return two_opt(points, nearest_neighbour_tour(points))


class TspTask(Task):
    """Instances: n points (n uniform in 50..200), each uniform in the unit square [0, 1)^2, as an n x 2 float array.

    Score map: an instance scores `reference_score * reference_length / tour_length`, clipped to [0, 1], where
    the reference is nearest neighbour from point 0 followed by best-improvement 2-opt (`reference_tour`),
    computed once per instance when the split is drawn (about 0.01-0.1 s an instance). The map is monotone
    (a shorter tour scores higher); the reference tour scores exactly `reference_score` = 0.8, and since an
    optimal tour is a few percent shorter than 2-opt's, the best reachable score is about 0.84: the clip at 1
    (a tour 20% shorter than the reference) is never reached.
    """

    name = "tsp"
    summary = "Euclidean TSP: a tour of 50..200 random points, 0.8 for matching nearest neighbour + 2-opt"
    entrypoint = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 20, "test": 50}
    split_seeds: Mapping[str, int] = {"val": 4321, "test": 5678}
    time_limit = 0.5
    failure_score = 0.0
    max_score = 1.0

    min_points: int = 50
    max_points: int = 200
    reference_score: float = 0.8
    max_output_bytes = output_bytes(max_points)  # one index per point

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        n = int(rng.integers(self.min_points, self.max_points + 1))
        points = rng.random((n, 2))
        return Instance(args=(points,), hidden=tour_length(points, reference_tour(points)))

    def source_measure(self, instances: Sequence[Instance], scores: Sequence[float | None]) -> dict[str, Any] | None:
        """The tours' mean length over the reference tour's (1: as long as nearest neighbour + 2-opt)."""
        return mean_measure("tour length / reference length",
                            [self.reference_score / s for s in scores if s is not None and s > 0],
                            "lower is better; the reference is nearest neighbour + 2-opt; the mean over the "
                            "instances given a valid tour")

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        (points,) = instance.args
        tour = permutation(output, len(points))
        length = tour_length(points, tour)
        if length == 0.0:  # every point at one place (a hand-made instance): any tour is optimal
            return self.max_score
        return self.reference_score * (float(instance.hidden) / length)  # the reference itself: exactly 0.8
