"""The built-in tasks by name, their aliases, and resolving a name or a path to a Task."""

from __future__ import annotations

from pathlib import Path

from selftaught.errors import TaskError
from selftaught.tasks._base import Task
from selftaught.tasks._user import load_task_file
from selftaught.tasks.bin_packing import BinPackingTask
from selftaught.tasks.circle_packing import CirclePackingTask
from selftaught.tasks.knapsack import KnapsackTask
from selftaught.tasks.maxcut import MaxCutTask
from selftaught.tasks.parity import ParityNoiselessTask, ParityNoiseTask
from selftaught.tasks.quadratic_assignment import ModifiedQuadraticAssignmentTask
from selftaught.tasks.str_grid_dist import StrGridDistTask
from selftaught.tasks.three_sat import ThreeSatTask
from selftaught.tasks.tsp import TspTask

_BUILTIN: tuple[type[Task], ...] = (
    ParityNoiseTask,
    ParityNoiselessTask,
    StrGridDistTask,
    ModifiedQuadraticAssignmentTask,
    ThreeSatTask,
    MaxCutTask,
    CirclePackingTask,
    BinPackingTask,
    TspTask,
    KnapsackTask,
)
ALIASES: dict[str, str] = {"lpn": "parity_noise"}


def builtin_tasks() -> dict[str, Task]:
    """The built-in tasks, freshly built: the paper's six in the paper's order (LPN first), then the benchmarks
    (see `selftaught.tasks._groups`)."""
    return {cls.name: cls() for cls in _BUILTIN}


def _known_names() -> str:
    aliases = {target: alias for alias, target in ALIASES.items()}
    return ", ".join(f"{cls.name} (alias {aliases[cls.name]})" if cls.name in aliases else cls.name for cls in _BUILTIN)


def _looks_like_path(text: str) -> bool:
    return text.endswith(".py") or "/" in text or "\\" in text


def get_task(name_or_path: str) -> Task:
    """A built-in task by name or alias (`lpn`), or a user's task loaded from a `.py` file.

    Raises TaskError (one line) for an unknown name, a missing file or a malformed task file.
    """
    key = name_or_path.strip()
    if not _looks_like_path(key):
        name = ALIASES.get(key.lower(), key.lower())
        for cls in _BUILTIN:
            if cls.name == name:
                return cls()
        raise TaskError(f"unknown task {name_or_path!r}; known tasks: {_known_names()}, or a path to a .py task file")
    return load_task_file(Path(key))
