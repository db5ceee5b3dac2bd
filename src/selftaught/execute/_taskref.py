"""What travels to a node to rebuild a task there: a built-in's name, a task file's bytes, or the task itself."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from functools import lru_cache

from selftaught.errors import TaskError
from selftaught.tasks import Task, TaskSource, builtin_tasks, load_task_source, task_source

_INTERNAL = frozenset({"_instance_cache", "_task_source"})  # what a Task keeps for itself, never shipped


@dataclass(frozen=True)
class TaskRef:
    """A task as a node rebuilds it. Exactly one of:

    name: a built-in task, rebuilt by name (the node's selftaught has it: the same version).
    source: a user's task file, run from its bytes (the node need not have the file).
    value: any other Task (one made in Python), pickled: its class must be importable on the node.
    """

    name: str
    source: TaskSource | None = None
    value: Task | None = None

    @property
    def key(self) -> tuple[str, ...] | None:
        """What a node caches the rebuilt task under (None: shipped by value, nothing to cache)."""
        if self.source is not None:
            return ("file", self.source.digest)
        return None if self.value is not None else ("builtin", self.name)

    def build(self) -> Task:
        if self.value is not None:
            return self.value
        if self.source is not None:
            return load_task_source(self.source)
        pristine = _builtins().get(self.name)
        if pristine is None:
            raise TaskError(f"task {self.name!r} is not a built-in task of this node's selftaught")
        return type(pristine)()


def task_ref(task: Task) -> TaskRef:
    """How `task` travels: a plain built-in by name, a task file as its bytes, any other task by value."""
    source = task_source(task)
    if source is not None:
        return TaskRef(task.name, source=source)
    if _is_plain_builtin(task):
        return TaskRef(task.name)
    shipped = copy.copy(task)  # without the instances cached here (the node derives them itself)
    vars(shipped).pop("_instance_cache", None)
    return TaskRef(task.name, value=shipped)


@lru_cache(maxsize=1)
def _builtins() -> dict[str, Task]:
    """The built-in tasks as constructed (never used for anything but comparing with)."""
    return builtin_tasks()


def _settings(task: Task) -> dict[str, object]:
    return {k: v for k, v in vars(task).items() if k not in _INTERNAL}


def _is_plain_builtin(task: Task) -> bool:
    """`task` is a built-in as its class makes it (not one whose settings were changed after)."""
    pristine = _builtins().get(task.name)
    if type(pristine) is not type(task):
        return False
    try:
        return bool(_settings(task) == _settings(pristine))
    except Exception:  # settings that do not compare (arrays): ship it by value
        return False


class TaskCache:
    """The tasks a node has rebuilt, so each keeps its instances across evaluations (thread-safe)."""

    def __init__(self) -> None:
        self._tasks: dict[tuple[str, ...], Task] = {}
        self._lock = threading.Lock()

    def get(self, ref: TaskRef) -> Task:
        key = ref.key
        if key is None:
            return ref.build()
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                task = self._tasks[key] = ref.build()
            return task
