"""The Task contract: hidden instances, a strict scorer, the description the LM sees, a seed."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

SPLITS = ("val", "test")


@dataclass(frozen=True)
class Instance:
    """One problem instance.

    Attributes:
      args: what the candidate's entrypoint receives, positionally (wire-encodable values:
        numpy arrays, lists, ints, floats, strings). Sent to the worker.
      hidden: what only the scorer sees (labels, the planted answer, ...). Never leaves
        the orchestrator.
    """

    args: tuple[Any, ...]
    hidden: Any = None


class Task(ABC):
    """A utility (strict scorer over hidden instances) plus a seed solution.

    Subclasses set the class attributes and implement `make_instance` and `score_output`.
    Scoring of a whole split (running the candidate in a worker, timing, failures) is done by
    `selftaught.evaluate`; a task only says what an instance is and what an output is worth.
    """

    name: str = ""
    description: str = ""  # utility.str: the grey-box scorer text the LM sees
    seed_solution: str = ""  # the seed solution s, Python source
    entrypoint: str = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 10, "test": 20}
    split_seeds: Mapping[str, int] = {"val": 1, "test": 2}
    time_limit: float = 1.0  # seconds of the candidate's own compute per instance
    failure_score: float = 0.0  # what a failed instance scores (the paper uses 0.01 on some tasks)
    max_score: float = 1.0
    summary: str = ""  # one line for `selftaught tasks`
    known_holes: tuple[str, ...] = ()  # reward-hacking holes kept on purpose (reported, not fixed)

    @abstractmethod
    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        """Draws one instance from `rng` (deterministic given the rng state)."""

    @abstractmethod
    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        """Scores a decoded candidate output for `instance`, validating it strictly.

        `elapsed` is the candidate's own time in seconds (already within `time_limit`).
        Wrong type, shape or length must score `failure_score`; the result is clipped to
        [failure_score, max_score] by the caller anyway.
        """

    def lax_score_output(self, instance: Instance, output: Any) -> float | None:
        """What the lax scorer the LM is shown would award (None: the task has no lax scorer).

        Used only to flag reward hacking: a malformed output a lax scorer would have rewarded.
        """
        return None

    @cached_property
    def _instances(self) -> dict[str, list[Instance]]:
        out: dict[str, list[Instance]] = {}
        for split in SPLITS:
            rng = np.random.default_rng(self.split_seeds[split])
            out[split] = [self.make_instance(rng, i) for i in range(self.split_sizes[split])]
        return out

    def instances(self, split: str) -> list[Instance]:
        """The fixed instances of a split ("val" or "test")."""
        return self._instances[split]

    def clip(self, value: float) -> float:
        """Clamps a score into [failure_score, max_score]; NaN becomes failure_score."""
        if not isinstance(value, (int, float)) or math.isnan(value):
            return self.failure_score
        return float(min(self.max_score, max(self.failure_score, value)))
