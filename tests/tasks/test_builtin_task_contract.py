"""Every built-in task keeps the Task contract: wire-safe args, fixed splits, a description and a seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selftaught.sandbox._guest import _wire
from selftaught.tasks import BadOutput, Task, builtin_tasks
from support import TEST_SECRET

TASKS = builtin_tasks()


def filled(dtype: str, shape: tuple[int, ...], fill: float) -> Any:
    with np.errstate(invalid="ignore"):  # nan and inf cast to int: whatever numpy makes of them is fine
        return np.full(shape, fill).astype(dtype)


def wire_values() -> st.SearchStrategy[Any]:
    """Values a worker can send back: JSON values and numeric numpy arrays, near-miss shapes included."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.floats(), st.text(max_size=40),
                        st.sampled_from(["A", "B", "AB", "ABBA"]))
    arrays = st.builds(
        filled,
        st.sampled_from(["bool", "int64", "float64"]),
        st.one_of(st.tuples(st.integers(0, 260)), st.tuples(st.integers(0, 25), st.integers(0, 3)), st.just(())),
        st.sampled_from([0, 1, 2, -1, 0.5, float("nan"), float("inf")]),
    )
    lists = st.integers(0, 260).flatmap(lambda n: st.lists(st.sampled_from([0, 1, True, 1.0, 2, -1, None, "1"]),
                                                           min_size=n, max_size=n))
    return st.recursive(st.one_of(scalars, arrays, lists),
                        lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                        max_leaves=10)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_args_survive_the_wire_unchanged(task: Task) -> None:
    for split in ("val", "test"):
        for instance in task.instances(split, TEST_SECRET)[:5]:
            assert isinstance(instance.args, tuple)
            assert same(list(instance.args), _wire.from_wire(_wire.to_wire(list(instance.args))))


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_splits_are_fixed_distinct_and_test_is_larger(task: Task) -> None:
    fresh = type(task)()
    val, test = task.instances("val", TEST_SECRET), task.instances("test", TEST_SECRET)
    assert len(test) > len(val) > 0
    assert task.split_seeds["val"] != task.split_seeds["test"]
    assert all(same(list(a.args), list(b.args)) for a, b in zip(val, fresh.instances("val", TEST_SECRET), strict=True))
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
def test_odd_outputs_are_bad_output_never_a_scorer_crash(task: Task) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    for output in (None, 0, 1.0, "A", [], [1] * 10_000, np.ones((400, 400)), {"a": 1}, [[1]] * 20):
        with pytest.raises(BadOutput):
            task.checked_score(instance, output, 0.01)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=wire_values())
@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_any_decodable_output_gets_a_verdict_from_every_scorer(task: Task, output: Any) -> None:
    # Whatever a worker can send, a built-in scorer either scores it or calls it bad output: a scorer that
    # raised anything else would stop the run as the task's bug (ScorerError).
    instance = task.instances("val", TEST_SECRET)[0]
    try:
        value = task.checked_score(instance, output, 0.01)
    except BadOutput as exc:
        assert str(exc).startswith("expected")
    else:
        assert task.failure_score <= task.clip(value) <= task.max_score
