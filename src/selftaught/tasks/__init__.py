"""Tasks: the six tasks of the paper and loading a user's own task file."""

from selftaught.tasks._base import SPLITS, Instance, Task
from selftaught.tasks._registry import builtin_tasks, get_task

__all__ = ["SPLITS", "Instance", "Task", "builtin_tasks", "get_task"]
