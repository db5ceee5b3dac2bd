"""Resolving task names, the `lpn` alias and task-file paths; unknown names fail with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from selftaught.errors import TaskError
from selftaught.tasks import builtin_tasks, get_task
from selftaught.tasks._groups import BENCHMARKS
from support import TEST_SECRET

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mytask.py"


def test_builtin_tasks_are_the_papers_six_in_order_then_the_benchmarks() -> None:
    assert list(builtin_tasks()) == [
        "parity_noise",
        "parity_noiseless",
        "str_grid_dist",
        "modified_quadratic_assignment",
        "three_sat",
        "maxcut",
        *BENCHMARKS,
    ]


def test_builtin_tasks_returns_fresh_objects_each_call() -> None:
    assert builtin_tasks()["maxcut"] is not builtin_tasks()["maxcut"]


def test_names_and_the_lpn_alias_resolve() -> None:
    assert get_task("lpn").name == "parity_noise"
    assert get_task("LPN").name == "parity_noise"
    assert get_task("three_sat").name == "three_sat"


def test_an_unknown_name_lists_the_known_ones_on_one_line() -> None:
    with pytest.raises(TaskError) as caught:
        get_task("travelling_salesman")
    message = str(caught.value)
    assert "\n" not in message and "travelling_salesman" in message
    assert all(name in message for name in builtin_tasks()) and "lpn" in message


def test_a_path_loads_a_users_task_file() -> None:
    task = get_task(str(EXAMPLE))
    assert task.name == "sort_list" and len(task.instances("test", TEST_SECRET)) == 20


def test_a_missing_task_file_is_a_task_error(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="not found"):
        get_task(str(tmp_path / "nope.py"))
