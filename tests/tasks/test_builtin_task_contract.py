"""Every built-in task keeps the Task contract: wire-safe args, fixed splits, a description and a seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from selftaught.sandbox._guest import _wire
from selftaught.tasks import Task, builtin_tasks

TASKS = builtin_tasks()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_args_survive_the_wire_unchanged(task: Task) -> None:
    for split in ("val", "test"):
        for instance in task.instances(split)[:5]:
            assert isinstance(instance.args, tuple)
            assert same(list(instance.args), _wire.from_wire(_wire.to_wire(list(instance.args))))


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_splits_are_fixed_distinct_and_test_is_larger(task: Task) -> None:
    fresh = type(task)()
    val, test = task.instances("val"), task.instances("test")
    assert len(test) > len(val) > 0
    assert task.split_seeds["val"] != task.split_seeds["test"]
    assert all(same(list(a.args), list(b.args)) for a, b in zip(val, fresh.instances("val"), strict=True))
    assert not same(list(val[0].args), list(test[0].args))


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_description_and_seed_are_loaded_from_data_files(task: Task) -> None:
    assert f"{task.entrypoint}(" in task.description and "def utility" in task.description
    namespace: dict[str, Any] = {}
    exec(compile(task.seed_solution, f"<{task.name} seed>", "exec"), namespace)
    assert callable(namespace[task.entrypoint])
    assert task.summary and 0 < task.time_limit <= 2.0
    assert task.failure_score < task.max_score == 1.0


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_scores_never_exceed_max_score(task: Task) -> None:
    instance = task.instances("val")[0]
    for output in (None, 0, 1.0, "A", [], [1] * 10_000, np.ones((400, 400)), {"a": 1}, [[1]] * 20):
        assert task.failure_score <= task.clip(task.score_output(instance, output, 0.01)) <= task.max_score
