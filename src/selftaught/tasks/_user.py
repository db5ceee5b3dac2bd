"""Loading a user's task file: a module defining `TASK`, or the module-level names of a task.

The file is trusted user code and is imported in-process. Every mistake in it becomes a one-line
TaskError naming the file and what is wrong, never a traceback; a scorer or generator that fails
while scoring is a ScorerError, the task's fault, never a candidate's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from selftaught._ast import parse_python
from selftaught._entrypoint import entrypoint_problem
from selftaught.errors import ScorerError, TaskError
from selftaught.tasks._base import DEFAULT_MAX_OUTPUT_BYTES, SPLITS, Instance, Task

MAX_TASK_FILE_BYTES = 1 << 20
#: Instances per split: every one is made in memory and scored in every evaluation (the built-in tasks have 10..100).
MAX_SPLIT_SIZE = 10_000

InstanceMaker = Callable[[np.random.Generator, int], Any]
Scorer = Callable[[tuple[Any, ...], Any, Any, float], Any]


class ModuleTask(Task):
    """A Task built from the module-level names of a user's task file."""

    def __init__(
        self,
        *,
        source: str,
        name: str,
        description: str,
        seed_solution: str,
        entrypoint: str,
        split_sizes: Mapping[str, int],
        split_seeds: Mapping[str, int],
        time_limit: float,
        load_time_limit: float,
        max_output_bytes: int,
        failure_score: float,
        max_score: float,
        summary: str,
        make_instance: InstanceMaker,
        score: Scorer,
    ) -> None:
        self.source = source
        self.name = name
        self.description = description
        self.seed_solution = seed_solution
        self.entrypoint = entrypoint
        self.split_sizes = dict(split_sizes)
        self.split_seeds = dict(split_seeds)
        self.time_limit = time_limit
        self.load_time_limit = load_time_limit
        self.max_output_bytes = max_output_bytes
        self.failure_score = failure_score
        self.max_score = max_score
        self.summary = summary
        self._make = make_instance
        self._score = score

    @property
    def origin(self) -> str:
        return self.source

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        made = self._make(rng, index)  # an exception here is reported as the task's (Task.instances)
        if not (isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], (tuple, list))):
            raise ScorerError(f"task {self.name} ({self.source}): make_instance must return (args_tuple, hidden), "
                              f"got {type(made).__name__}")
        return Instance(args=tuple(made[0]), hidden=made[1])

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        """The user's `score`: a float; it raises selftaught.tasks.BadOutput for a malformed output."""
        value: float = self._score(instance.args, instance.hidden, output, elapsed)
        return value


@dataclass(frozen=True)
class TaskSource:
    """A task file as it was loaded: its path (which names it in messages) and its bytes.

    What travels to another machine (a Ray node) to rebuild the same task there, where the path may
    not exist: `load_task_source` runs the bytes as if they were imported from `path`.
    """

    path: str
    data: bytes = b""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.path.encode() + b"\x00" + self.data).hexdigest()[:16]


def load_task_file(path: Path) -> Task:
    """Imports the task file at `path` and returns its Task (TaskError if it is missing or malformed)."""
    source = path.name
    if not path.exists():
        raise TaskError(f"task file not found: {path}")
    if not path.is_file():
        raise TaskError(f"{path} is not a regular file")
    if path.suffix != ".py":
        raise TaskError(f"{source}: a task file must be a Python file ending in .py")
    if path.stat().st_size > MAX_TASK_FILE_BYTES:
        raise TaskError(f"{source}: a task file may be at most {MAX_TASK_FILE_BYTES >> 20} MiB "
                        f"({path.stat().st_size} bytes)")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TASK_FILE_BYTES + 1)
    except OSError as exc:
        raise TaskError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_TASK_FILE_BYTES:
        raise TaskError(f"{source}: a task file may be at most {MAX_TASK_FILE_BYTES >> 20} MiB")
    return load_task_source(TaskSource(str(path.absolute()), data))


def load_task_source(origin: TaskSource) -> Task:
    """The Task a task file's bytes define, run as the module at `origin.path` (which need not exist here).

    The Task keeps `origin` (see `task_source`), so it can be rebuilt elsewhere from the same bytes.
    """
    path = Path(origin.path)
    source = path.name
    module = _import(origin)
    task = getattr(module, "TASK", None)
    if task is not None:
        if isinstance(task, type) and issubclass(task, Task):
            raise TaskError(f"{source}: TASK is a class; set TASK = {task.__name__}()")
        if not isinstance(task, Task):
            raise TaskError(f"{source}: TASK must be an instance of a selftaught.tasks.Task subclass")
        _split_map(task.split_sizes, "TASK.split_sizes", source, minimum=1, maximum=MAX_SPLIT_SIZE)
        if task.seed_solution:  # a Task made for scoring only may leave it out
            _check_seed(_text(task.seed_solution, "TASK.seed_solution", source), task.entrypoint,
                        "TASK.seed_solution", source)
    else:
        task = _from_names(module, source, path.stem)
    vars(task)["_task_source"] = origin
    return task


def _check_seed(seed: str, entrypoint: str, label: str, source: str) -> None:
    """Refuses a seed solution that is not Python or does not define the entrypoint: found when the task loads,
    not blamed on the LM or scored as zeros later."""
    try:
        tree = parse_python(seed)
    except SyntaxError as exc:
        raise TaskError(f"{source}: {label} is not valid Python (line {exc.lineno} of it: {exc.msg}); fix the seed "
                        "solution") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise TaskError(f"{source}: {label} is not valid Python ({type(exc).__name__}); fix the seed solution") \
            from None
    problem = entrypoint_problem(tree, entrypoint)
    if problem is not None:
        raise TaskError(f"{source}: {label} {problem}")


def task_source(task: Task) -> TaskSource | None:
    """The task file `task` was loaded from (None: a built-in task, or one made in Python)."""
    found = getattr(task, "__dict__", {}).get("_task_source")
    return found if isinstance(found, TaskSource) else None


def _import(origin: TaskSource) -> ModuleType:
    path = Path(origin.path)
    filename = origin.path
    module_name = f"selftaught_user_task_{origin.digest[:12]}"
    spec = importlib.util.spec_from_loader(module_name, loader=None, origin=filename)
    if spec is None:
        raise TaskError(f"{path.name}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    module.__file__ = filename
    try:  # the source as Python reads a file (its coding cookie honoured), kept where tracebacks and inspect look
        text = importlib.util.decode_source(origin.data)
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        raise TaskError(f"{path.name}: importing it raised {type(exc).__name__}: {exc}") from None
    sys.modules[module_name] = module  # dataclasses and pickling look the module up here
    try:
        exec(compile(origin.data, filename, "exec"), module.__dict__)
    except (Exception, SystemExit) as exc:
        del sys.modules[module_name]
        raise TaskError(f"{path.name}: importing it raised {type(exc).__name__}: {exc}") from None
    return module


def _from_names(module: ModuleType, source: str, stem: str) -> ModuleTask:
    def get(name: str, default: Any = ...) -> Any:
        if hasattr(module, name):
            return getattr(module, name)
        if default is ...:
            raise TaskError(f"{source}: missing {name} (or define TASK, an instance of a Task subclass)")
        return default

    name = _text(get("NAME", stem), "NAME", source)
    description = _text(get("DESCRIPTION"), "DESCRIPTION", source)
    seed_solution = _text(get("SEED_SOLUTION"), "SEED_SOLUTION", source)
    entrypoint = _text(get("ENTRYPOINT", "algorithm"), "ENTRYPOINT", source)
    if not entrypoint.isidentifier():
        raise TaskError(f"{source}: ENTRYPOINT must be a Python identifier, got {entrypoint!r}")
    _check_seed(seed_solution, entrypoint, "SEED_SOLUTION", source)
    split_sizes = _split_map(get("SPLITS"), "SPLITS", source, minimum=1, maximum=MAX_SPLIT_SIZE)
    split_seeds = _split_map(get("SEEDS", {"val": 1, "test": 2}), "SEEDS", source, minimum=0)
    time_limit = _number(get("TIME_LIMIT"), "TIME_LIMIT", source)
    if time_limit <= 0:
        raise TaskError(f"{source}: TIME_LIMIT must be a positive number of seconds")
    load_time_limit = _number(get("LOAD_TIME_LIMIT", Task.load_time_limit), "LOAD_TIME_LIMIT", source)
    if load_time_limit <= 0:
        raise TaskError(f"{source}: LOAD_TIME_LIMIT must be a positive number of seconds")
    max_output_bytes = get("MAX_OUTPUT_BYTES", DEFAULT_MAX_OUTPUT_BYTES)
    if type(max_output_bytes) is not int or max_output_bytes < 1:
        raise TaskError(f"{source}: MAX_OUTPUT_BYTES must be a positive int (bytes), got {max_output_bytes!r:.40}")
    failure_score = _number(get("FAILURE_SCORE", 0.0), "FAILURE_SCORE", source)
    max_score = _number(get("MAX_SCORE", 1.0), "MAX_SCORE", source)
    if not failure_score < max_score:
        raise TaskError(f"{source}: FAILURE_SCORE must be below MAX_SCORE")
    summary = _text(get("SUMMARY", f"user task from {source}"), "SUMMARY", source, allow_empty=True)
    make_instance = get("make_instance")
    score = get("score")
    for label, fn in (("make_instance", make_instance), ("score", score)):
        if not callable(fn):
            raise TaskError(f"{source}: {label} must be a function")
    return ModuleTask(
        source=source,
        name=name,
        description=description,
        seed_solution=seed_solution,
        entrypoint=entrypoint,
        split_sizes=split_sizes,
        split_seeds=split_seeds,
        time_limit=time_limit,
        load_time_limit=load_time_limit,
        max_output_bytes=max_output_bytes,
        failure_score=failure_score,
        max_score=max_score,
        summary=summary,
        make_instance=make_instance,
        score=score,
    )


def _text(value: Any, label: str, source: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        kind = "a string" if allow_empty else "a non-empty string"
        raise TaskError(f"{source}: {label} must be {kind}, got {value!r:.40}")
    return value


def _number(value: Any, label: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TaskError(f"{source}: {label} must be a finite number, got {value!r}")
    return float(value)


def _split_map(value: Any, label: str, source: str, *, minimum: int, maximum: int | None = None) -> dict[str, int]:
    expected = " and ".join(f'"{s}"' for s in SPLITS)
    if not isinstance(value, Mapping) or set(value) != set(SPLITS):
        raise TaskError(f"{source}: {label} must be a dict with exactly the keys {expected}")
    out: dict[str, int] = {}
    for split in SPLITS:
        n = value[split]
        if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
            raise TaskError(f"{source}: {label}[{split!r}] must be an int >= {minimum}, got {n!r:.40}")
        if maximum is not None and n > maximum:
            raise TaskError(f"{source}: {label}[{split!r}] is {n}; a split may have at most {maximum} instances "
                            "(each is made in memory and scored in every evaluation)")
        out[split] = n
    return out
