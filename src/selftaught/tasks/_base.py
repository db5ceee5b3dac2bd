"""The Task contract: hidden instances, a strict scorer, the description the LM sees, a seed."""

from __future__ import annotations

import inspect
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from selftaught.errors import ScorerError
from selftaught.sandbox._guest import _wire
from selftaught.tasks._secret import SplitSecret

SPLITS = ("val", "test")
#: The split of a task's published, named instances (a benchmark's record instance), scored and reported on its own.
#: Its instances are fixed by the task, not drawn from the split secret: a candidate may know them, so they never
#: take part in improvement (val) or in held-out results (test).
REFERENCE_SPLIT = "reference"
#: The largest output (bytes of its wire encoding) a task accepts unless it declares its own bound: 1 MiB holds
#: about 50,000 floats or 250,000 small ints, far above what a typical task's answer needs.
DEFAULT_MAX_OUTPUT_BYTES = 1 << 20


class BadOutput(Exception):
    """Raised by a scorer for a malformed output (wrong type, shape, length or values).

    The instance fails with kind `bad_output` and this message. Any other exception in a scorer
    is a bug of the task (`ScorerError`), never blamed on the candidate.
    """


def mean_measure(name: str, values: Sequence[float], note: str, **extra: Any) -> dict[str, Any]:
    """A task's `source_measure`: `values` (one per validly answered instance, already on the source's scale) by
    their mean, with how many there were, what the figure is (`note`) and anything the task adds."""
    return {"name": name, "value": sum(values) / len(values) if values else None, "instances": len(values),
            "note": note, **extra}


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
    # Trusted Python source defining `drive(entrypoint, *args)`, which the worker calls in place of the entrypoint
    # (empty: the entrypoint is called on the instance's args). For a task whose entrypoint is called many times per
    # instance (an online heuristic): the host still validates the output, since the driver runs beside the program.
    harness: str = ""
    split_sizes: Mapping[str, int] = {"val": 10, "test": 20}
    split_seeds: Mapping[str, int] = {"val": 1, "test": 2}
    time_limit: float = 1.0  # CPU seconds the candidate may use per instance (read by the host)
    load_time_limit: float = 5.0  # CPU seconds to define the program (imports, module-level code)
    # Bytes an output may take on the wire (its JSON encoding): bound it by what the task's outputs can be, since
    # the host reads and decodes every output (a larger one is `bad_output`, refused unread).
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
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

        `elapsed` is the CPU seconds the candidate used (already within `time_limit`).
        A malformed output (wrong type, shape, length or values) raises `BadOutput` saying what
        was expected and what came; the result is clipped to [failure_score, max_score] by the
        caller. Nothing else may raise: an exception here is the task's bug (`ScorerError`).
        """

    def split_instance(self, rng: np.random.Generator, split: str, index: int) -> Instance:
        """Draws instance `index` of `split` from `rng`: `make_instance`, unless the task draws each split from its
        own set (a held-out property, such as test sizes never seen in val)."""
        return self.make_instance(rng, index)

    def reference_instances(self) -> dict[str, Instance]:
        """The task's published named instances (the `reference` split), by a label saying what each is.

        Empty (the default): the task has no reference split.
        """
        return {}

    def source_measure(self, instances: Sequence[Instance], scores: Sequence[float | None]) -> dict[str, Any] | None:
        """The source's own measure of a scored split, beside our utility (None: the task has none).

        `scores`: each instance's score, None where it failed. A benchmark task whose source reports another
        figure (bin packing's excess over the L1 bound, a tour's length over the reference) says it here, as
        {"name", "value", "instances" (those it is over), "note"}, read back from the scores through the map its
        docs state.
        """
        return None

    def lax_score_output(self, instance: Instance, output: Any) -> float | None:
        """What the lax scorer the LM is shown would award (None: the task has no lax scorer).

        Used only to flag reward hacking: a malformed output a lax scorer would have rewarded.
        """
        return None

    @property
    def origin(self) -> str:
        """Where the task's code lives (its file's name), for error messages."""
        try:
            path = inspect.getsourcefile(type(self))
        except TypeError:
            path = None
        return os.path.basename(path) if path else type(self).__name__

    def instances(self, split: str, secret: SplitSecret) -> list[Instance]:
        """The instances of a split ("val" or "test"), derived from `secret` (the same secret, the same instances).

        Instance i is drawn from its own generator, seeded by an HMAC of the secret over (task, split,
        the task's split seed, i). A generator that raises or returns arguments that cannot be sent
        to a worker is the task's bug: ScorerError, naming the task and its file. The `reference` split
        of a task that has one is its `reference_instances()`, in order, whatever the secret.
        """
        cache: dict[tuple[str, str], list[Instance]] = self.__dict__.setdefault("_instance_cache", {})
        key = (secret.fingerprint, split)
        if key not in cache:
            named = self.reference_instances()
            if split == REFERENCE_SPLIT and named:
                cache[key] = [self._checked(instance, split, i) for i, instance in enumerate(named.values())]
            elif split in SPLITS:
                cache[key] = [self._instance(secret, split, i) for i in range(self.split_sizes[split])]
            else:
                known = (*SPLITS, REFERENCE_SPLIT) if named else SPLITS
                raise ValueError(f"unknown split {split!r} (choose from {', '.join(known)})")
        return cache[key]

    def _instance(self, secret: SplitSecret, split: str, index: int) -> Instance:
        where = f"task {self.name} ({self.origin})"
        rng = np.random.default_rng(secret.instance_seed(self.name, split, int(self.split_seeds[split]), index))
        try:
            instance = self.split_instance(rng, split, index)
        except ScorerError:
            raise
        except Exception as exc:
            raise ScorerError(f"{where}: make_instance raised {type(exc).__name__}: {exc}") from None
        return self._checked(instance, split, index)

    def _checked(self, instance: Instance, split: str, index: int) -> Instance:
        """`instance`, once it is known to be an Instance whose arguments a worker can receive (else ScorerError)."""
        where = f"task {self.name} ({self.origin})"
        if not isinstance(instance, Instance) or not isinstance(instance.args, tuple):
            raise ScorerError(f"{where}: make_instance must return an Instance whose args are a tuple")
        try:
            _wire.to_wire(list(instance.args))
        except _wire.WireError as exc:
            raise ScorerError(f"{where}: instance {index} of {split} has arguments a worker cannot receive "
                              f"({exc}); use numpy arrays, lists, ints, floats, bools and strings") from None
        return instance

    def checked_score(self, instance: Instance, output: Any, elapsed: float) -> float:
        """`score_output`, unclipped; BadOutput passes through, anything else the scorer does wrong is ScorerError."""
        try:
            value = self.score_output(instance, output, elapsed)
        except BadOutput:
            raise
        except Exception as exc:
            raise ScorerError(f"task {self.name} ({self.origin}): its scorer raised "
                              f"{type(exc).__name__}: {exc}") from None
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ScorerError(f"task {self.name} ({self.origin}): its scorer returned {value!r:.60}, not a number")
        if not math.isfinite(float(value)):
            raise ScorerError(f"task {self.name} ({self.origin}): its scorer returned {float(value)}, "
                              "not a finite number")
        return float(value)

    def clip(self, value: float) -> float:
        """Clamps a score into [failure_score, max_score]; NaN becomes failure_score."""
        if not isinstance(value, (int, float)) or math.isnan(value):
            return self.failure_score
        return float(min(self.max_score, max(self.failure_score, value)))
