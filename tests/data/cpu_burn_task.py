"""A task whose seed spends a fixed 40 ms of CPU per instance against a 0.1 s limit: charged with CPU time it
always passes; charged with wall clock it fails once the machine is busy enough (three runnable processes per core).
Used by the determinism test of a whole run."""

from __future__ import annotations

from typing import Any

import numpy as np

from selftaught.tasks import BadOutput

NAME = "cpu_burn"
SUMMARY = "add up a list, after spending 40 ms of CPU (a timing-sensitive test task)"
DESCRIPTION = '''\
def utility(algorithm_str: str) -> float:
    """1 point per list where algorithm(values) returns sum(values) (an int) within 0.1 s of CPU time."""
'''
SEED_SOLUTION = '''\
import time


def algorithm(values):
    start = time.process_time()
    while time.process_time() - start < 0.04:
        pass
    return sum(values)
'''
SPLITS = {"val": 5, "test": 8}
SEEDS = {"val": 21, "test": 22}
TIME_LIMIT = 0.1


def make_instance(rng: np.random.Generator, index: int) -> tuple[tuple[Any, ...], Any]:
    values = [int(v) for v in rng.integers(0, 100, size=10)]
    return (values,), sum(values)


def score(args: tuple[Any, ...], hidden: Any, output: Any, elapsed: float) -> float:
    if not isinstance(output, int) or isinstance(output, bool):
        raise BadOutput(f"expected an int, got {type(output).__name__}")
    return 1.0 if output == hidden else 0.0
