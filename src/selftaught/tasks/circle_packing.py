"""Circle packing (AlphaEvolve B.12): n disjoint circles in the unit square, maximising the sum of their radii."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from selftaught.tasks._base import BadOutput, Instance, Task, mean_measure
from selftaught.tasks._common import describe, output_bytes, read_data

#: How far a circle may reach past the square's side, or into another circle, and still count as valid.
TOLERANCE = 1e-9
#: The published records (AlphaEvolve, 2025; docs/tasks.md): the reference split's instances, by n.
RECORDS: dict[int, float] = {26: 2.635, 32: 2.937}


def area_bound(n: int) -> float:
    """sqrt(n / pi): no n disjoint circles inside the unit square have radii summing to more.

    Their areas sum to at most 1, so sum(r)^2 <= n * sum(r^2) <= n / pi (Cauchy-Schwarz).
    """
    return math.sqrt(n / math.pi)


def circles(output: Any, n: int) -> npt.NDArray[np.float64]:
    """`output` as an (n, 3) float array of (x, y, r) rows; BadOutput unless every value is a finite number, r >= 0.

    Accepts a list of n lists or tuples of 3 numbers (bools are not numbers here), or a numpy array of shape (n, 3)
    of an integer or float dtype.
    """
    expected = f"expected {n} circles (x, y, r): a list of {n} triples of numbers or a numpy array of shape ({n}, 3)"
    if isinstance(output, np.ndarray):
        if output.shape != (n, 3) or output.dtype.kind not in "iuf":
            raise BadOutput(f"{expected}; got {describe(output)}")
        values = output.astype(np.float64)
    elif isinstance(output, (list, tuple)):
        if len(output) != n:
            raise BadOutput(f"{expected}; got {describe(output)}")
        for i, row in enumerate(output):
            if not isinstance(row, (list, tuple)) or len(row) != 3 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
                raise BadOutput(f"{expected}; circle {i} is {describe(row)}")
        values = np.array(output, dtype=np.float64)
    else:
        raise BadOutput(f"{expected}; got {describe(output)}")
    if not np.all(np.isfinite(values)):
        raise BadOutput(f"{expected}; circle {int(np.argmin(np.all(np.isfinite(values), axis=1)))} has a value that "
                        "is not a finite number")
    if np.any(values[:, 2] < 0):
        raise BadOutput(f"circle {int(np.argmax(values[:, 2] < 0))} has a negative radius")
    return values


def packing_violation(packing: npt.NDArray[np.float64], tolerance: float = TOLERANCE) -> str | None:
    """Why `packing` (rows x, y, r) is not a packing in the unit square, or None: the worst offence first found.

    A circle must lie inside the square (r <= x <= 1 - r and the same for y, each within `tolerance`), and two
    circles may not overlap (their centres at least r_i + r_j apart, within `tolerance`).
    """
    x, y, r = packing[:, 0], packing[:, 1], packing[:, 2]
    outside = np.maximum.reduce([r - x, x + r - 1.0, r - y, y + r - 1.0])
    worst = int(np.argmax(outside))
    if outside[worst] > tolerance:
        return (f"circle {worst} (x={x[worst]:.6g}, y={y[worst]:.6g}, r={r[worst]:.6g}) reaches {outside[worst]:.3g} "
                f"outside the unit square (tolerance {tolerance:g})")
    if len(r) > 1:
        i, j = np.triu_indices(len(r), k=1)
        overlap = (r[i] + r[j]) - np.hypot(x[i] - x[j], y[i] - y[j])
        k = int(np.argmax(overlap))
        if overlap[k] > tolerance:
            return (f"circles {i[k]} and {j[k]} overlap by {overlap[k]:.3g} (their centres are "
                    f"{np.hypot(x[i[k]] - x[j[k]], y[i[k]] - y[j[k]]):.6g} apart, their radii sum to "
                    f"{r[i[k]] + r[j[k]]:.6g}; tolerance {tolerance:g})")
    return None


class CirclePackingTask(Task):
    """Instances: a number of circles n; val draws n from the even numbers of 20..40, test from the odd ones.

    The published record instances n = 26 and n = 32 are in neither: they are the `reference` split, scored and
    reported on their own. An instance scores the packing's sum of radii divided by sqrt(n / pi), the most any n
    disjoint circles in the unit square can sum to (their areas sum to at most 1), so it lies in [0, 1]: the
    records score 0.916 (n = 26) and 0.920 (n = 32), the seed's grid of equal circles 0.75 to 0.89.
    """

    name = "circle_packing"
    summary = "circle packing: n = 20..40 disjoint circles in the unit square, maximise the sum of radii, within 1 s"
    entrypoint = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 6, "test": 12}
    split_seeds: Mapping[str, int] = {"val": 2626, "test": 3232}
    time_limit = 1.0
    failure_score = 0.0
    max_score = 1.0

    min_n: int = 20
    max_n: int = 40
    tolerance: float = TOLERANCE
    max_output_bytes = output_bytes(3 * max_n)  # three numbers per circle

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def sizes(self, split: str) -> tuple[int, ...]:
        """The numbers of circles `split` draws from: val the even ones of min_n..max_n, test the odd ones (neither
        has a record instance's n)."""
        parity = {"val": 0, "test": 1}[split]
        return tuple(n for n in range(self.min_n, self.max_n + 1) if n % 2 == parity and n not in RECORDS)

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        """An instance of either split's kind: n drawn from min_n..max_n, a record's n excepted."""
        return self._circles(int(rng.choice(self.sizes("val") + self.sizes("test"))))

    def split_instance(self, rng: np.random.Generator, split: str, index: int) -> Instance:
        return self._circles(int(rng.choice(self.sizes(split))))

    @staticmethod
    def _circles(n: int) -> Instance:
        return Instance(args=(n,), hidden=area_bound(n))

    def reference_instances(self) -> dict[str, Instance]:
        """n = 26 and n = 32, labelled with how a score reads as a sum of radii and what the record scores."""
        return {f"n={n} (sum of radii = score x {area_bound(n):.4f}; the record {record} scores "
                f"{record / area_bound(n):.4f})": self._circles(n) for n, record in RECORDS.items()}

    def source_measure(self, instances: Sequence[Instance], scores: Sequence[float | None]) -> dict[str, Any] | None:
        """The source's figure, the sum of radii, per instance (its n differs from instance to instance)."""
        sums = [{"n": int(i.args[0]), "sum_of_radii": None if s is None else round(s * float(i.hidden), 6)}
                for i, s in zip(instances, scores, strict=True)]
        return mean_measure("sum of radii", [v["sum_of_radii"] for v in sums if v["sum_of_radii"] is not None],
                            "higher is better; the mean over the valid packings (each n its own: the records are "
                            "2.635 at n = 26 and 2.937 at n = 32)", per_instance=sums)

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        (n,) = instance.args
        packing = circles(output, n)
        violation = packing_violation(packing, self.tolerance)
        if violation is not None:
            raise BadOutput(violation)
        return float(np.sum(packing[:, 2])) / float(instance.hidden)
