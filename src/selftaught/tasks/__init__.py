"""Tasks: the paper's six, the field's benchmarks, loading a user's own task file, and the secret instances derive
from."""

from selftaught.tasks._base import REFERENCE_SPLIT, SPLITS, BadOutput, Instance, Task
from selftaught.tasks._registry import builtin_tasks, get_task
from selftaught.tasks._secret import SplitSecret, load_split_secret
from selftaught.tasks._user import TaskSource, load_task_source, task_source

__all__ = ["REFERENCE_SPLIT", "SPLITS", "BadOutput", "Instance", "SplitSecret", "Task", "TaskSource", "builtin_tasks",
           "get_task", "load_split_secret", "load_task_source", "task_source"]
