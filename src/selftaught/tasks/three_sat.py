"""Random planted-satisfiable 3-SAT: return a satisfying assignment fast (0.1 s per formula)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from selftaught.tasks._base import BadOutput, Instance, Task
from selftaught.tasks._common import describe, output_bytes, read_data


def satisfies(formula: list[list[int]], values: list[bool]) -> bool:
    """True if every clause has a literal made true by `values` (indexed by variable, 1..n)."""
    return all(any(values[abs(lit)] == (lit > 0) for lit in clause) for clause in formula)


class ThreeSatTask(Task):
    """Instances: n in 5..50 variables, 4n clauses of 3 distinct variables, all true under a planted assignment.

    A solved formula scores 1; an assignment that leaves a clause unsatisfied scores like a failure
    (the paper's epsilon, 0.01), so the split score is essentially the fraction solved.
    """

    name = "three_sat"
    summary = "3-SAT: satisfy a random planted formula (5..50 variables, 4n clauses) within 0.1 s"
    entrypoint = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 30, "test": 50}
    split_seeds: Mapping[str, int] = {"val": 4321, "test": 5678}
    time_limit = 0.1
    failure_score = 0.01
    max_score = 1.0

    min_vars: int = 5
    max_vars: int = 50
    clauses_per_var: int = 4
    max_output_bytes = output_bytes(max_vars + 1)  # one value per variable, and entry 0

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        n = int(rng.integers(self.min_vars, self.max_vars + 1))
        planted = np.concatenate([[False], rng.random(n) < 0.5])
        m = self.clauses_per_var * n
        formula: list[list[int]] = []
        while len(formula) < m:  # draw candidate clauses in batches, keep the valid ones in order
            variables = rng.integers(1, n + 1, size=(2 * m, 3))
            negated = rng.random((2 * m, 3)) < 0.5
            distinct = (variables[:, 0] != variables[:, 1]) & (variables[:, 0] != variables[:, 2])
            distinct &= variables[:, 1] != variables[:, 2]
            true_under_planted = np.any(planted[variables] != negated, axis=1)
            literals = np.where(negated, -variables, variables)
            keep = literals[distinct & true_under_planted][: m - len(formula)]
            formula.extend([int(lit) for lit in clause] for clause in keep)
        return Instance(args=(formula,), hidden=[bool(v) for v in planted])

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        (formula,) = instance.args
        values = _assignment(output, max(abs(lit) for clause in formula for lit in clause))
        return 1.0 if satisfies(formula, values) else self.failure_score


def _assignment(output: Any, n: int) -> list[bool]:
    """`output` as values indexed 1..n (entry 0 ignored); BadOutput if it is not exactly that.

    Accepts a list of length n + 1 whose entries 1..n are booleans or the numbers 0 and 1, or a
    1-D numeric numpy array of length n + 1 holding only 0 and 1.
    """
    expected = f"expected an assignment of length {n + 1} (entry 0 ignored, entries 1..{n} each 0/1 or a bool)"
    original = output
    if isinstance(output, np.ndarray):
        if output.ndim != 1 or output.dtype.kind not in "biuf":
            raise BadOutput(f"{expected}; got {describe(original)}")
        output = output.tolist()
    if not isinstance(output, list) or len(output) != n + 1:
        raise BadOutput(f"{expected}; got {describe(original)}")
    entries = output[1:]
    if not all(isinstance(v, (bool, int, float)) and (v == 0 or v == 1) for v in entries):
        raise BadOutput(f"{expected}; got other values")
    return [False] + [v == 1 for v in entries]
