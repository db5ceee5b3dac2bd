"""A complete user task for selftaught: sort a list of integers.

Load it with `selftaught.tasks.get_task("examples/mytask.py")` (any place that takes a task name
also takes a path to a file like this one). The seed below makes one bubble-sort pass only, so
it scores well below 1 and leaves an improver something to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selftaught.tasks import BadOutput

NAME = "sort_list"
SUMMARY = "sort a list of integers (an example user task)"

# What the language model sees as `utility.str`: how scoring works, in Python-looking prose.
DESCRIPTION = '''\
import random


def utility(algorithm_str: str) -> float:
    """Sorting. Returns the fraction of positions that hold the right value, averaged over lists.

    The program must define algorithm(values): values is a list of 5 to 200 ints between -1000
    and 999; it must return a list holding exactly the same ints in ascending order. Each call may
    take at most 0.5 seconds. A call that is slower, raises, or returns anything that is not a
    rearrangement of the input scores 0.
    """
    exec(algorithm_str, globals())
    scores = []
    for _ in range(5):
        values = [random.randint(-1000, 999) for _ in range(random.randint(5, 200))]
        output = algorithm(list(values))
        expected = sorted(values)
        scores.append(sum(a == b for a, b in zip(output, expected)) / len(expected))
    return sum(scores) / len(scores)
'''

# The seed solution s: a string of Python defining ENTRYPOINT.
SEED_SOLUTION = '''\
def algorithm(values):
    """One bubble-sort pass: the largest value reaches the end, the rest is barely touched."""
    values = list(values)
    for i in range(len(values) - 1):
        if values[i] > values[i + 1]:
            values[i], values[i + 1] = values[i + 1], values[i]
    return values
'''

ENTRYPOINT = "algorithm"
SPLITS = {"val": 10, "test": 20}  # instances per split; test is for reporting only
SEEDS = {"val": 11, "test": 12}  # mixed with your split secret: each split is the same every run
TIME_LIMIT = 0.5  # CPU seconds the candidate may use per instance
LOAD_TIME_LIMIT = 5.0  # CPU seconds to define the program (imports, module-level code)
FAILURE_SCORE = 0.0  # what a slow, crashing or malformed answer scores
MAX_SCORE = 1.0


def make_instance(rng: np.random.Generator, index: int) -> tuple[tuple[Any, ...], Any]:
    """One instance: (the arguments the candidate gets, what only the scorer sees)."""
    n = int(rng.integers(5, 201))
    values = [int(v) for v in rng.integers(-1000, 1000, size=n)]
    return (values,), sorted(values)


def score(args: tuple[Any, ...], hidden: Any, output: Any, elapsed: float) -> float:
    """Fraction of positions right. A malformed output raises BadOutput (it scores FAILURE_SCORE).

    Check the output before using it: any other exception raised here is a bug of the task, and
    selftaught stops with it rather than blame the candidate.
    """
    (values,) = args
    if not isinstance(output, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in output):
        raise BadOutput(f"expected a list of ints, got {type(output).__name__}")
    if sorted(output) != hidden:
        raise BadOutput("the output is not a rearrangement of the input")
    return float(sum(a == b for a, b in zip(output, hidden, strict=True)) / len(values))
