"""What the LM is shown (each task's `utility.str`) states the limits, counts and sizes that really apply.

A description is a Python sketch of the scorer; every number it states is a `name = literal`
assignment in it, which these tests read with `ast` and compare with the task's own attributes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from selftaught.tasks import Task, builtin_tasks
from selftaught.tasks.parity import ParityNoiselessTask, ParityNoiseTask
from support import TEST_SECRET

TASKS = builtin_tasks()

#: Constants every description states, and where the task really keeps each.
COMMON: dict[str, Callable[[Task], Any]] = {
    "TIME_LIMIT": lambda task: task.time_limit,
    "LOAD_TIME_LIMIT": lambda task: task.load_time_limit,
    "FAILURE_SCORE": lambda task: task.failure_score,
    "N_INSTANCES": lambda task: task.split_sizes["val"],  # utility() scores the val split
    "N_TEST_INSTANCES": lambda task: task.split_sizes["test"],
}

#: Instance sizes and probabilities each description states, named as the task's attributes.
SIZES: dict[str, tuple[str, ...]] = {
    "parity_noise": ("n_bits", "p_secret", "n_train", "n_test", "noise"),
    "parity_noiseless": ("n_bits", "p_secret", "n_train", "n_test"),
    "str_grid_dist": ("min_length", "max_length"),
    "modified_quadratic_assignment": ("n", "preference_weight"),
    "three_sat": ("min_vars", "max_vars", "clauses_per_var"),
    "maxcut": ("min_nodes", "max_nodes", "p_edge", "max_weight"),
    "circle_packing": ("min_n", "max_n", "tolerance"),
    "bin_packing": ("weibull_items", "weibull_scale", "weibull_shape", "weibull_capacity", "uniform_sizes",
                    "uniform_low", "uniform_high", "uniform_capacity"),
    "tsp": ("min_points", "max_points", "reference_score"),
    "knapsack": ("min_items", "max_items", "max_weight"),
}


def stated_constants(description: str) -> dict[str, Any]:
    """Every `name = literal` in the description's Python, by name (one name stated twice must agree)."""
    found: dict[str, Any] = {}
    for node in ast.walk(ast.parse(description)):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            name = node.targets[0].id
            assert found.get(name, value) == value, f"{name} is stated as {found[name]!r} and as {value!r}"
            found[name] = value
    return found


def test_every_builtin_task_is_checked() -> None:
    assert set(SIZES) == set(TASKS)


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_the_description_states_the_real_limits_counts_and_sizes(task: Task) -> None:
    stated = stated_constants(task.description)
    real = {name: where(task) for name, where in COMMON.items()}
    real |= {name: getattr(task, name) for name in SIZES[task.name]}
    assert {name: stated.get(name) for name in real} == real
    if "noise" not in stated:
        assert getattr(task, "noise", 0.0) == 0.0


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_the_prose_states_no_number_of_its_own(task: Task) -> None:
    # Limits and counts are said by name (TIME_LIMIT, N_INSTANCES); a "2 seconds" in prose could drift from them.
    loose = re.findall(r"\b\d+(?:\.\d+)?\s*(?:s|ms|sec|seconds?|milliseconds?|instances?|samples?)\b", task.description)
    assert loose == []
    assert re.search(r"TIME_LIMIT\s+seconds", task.description) and "FAILURE_SCORE" in task.description


@pytest.mark.parametrize("name", ["parity_noise", "parity_noiseless"])
def test_parity_shows_the_papers_broadcasting_line_and_its_lax_scorer_computes_exactly_it(name: str) -> None:
    task = TASKS[name]
    assert isinstance(task, ParityNoiseTask | ParityNoiselessTask)
    line = "np.sum(predictions == test_parity) / n_test"
    assert f"total += {line}" in task.description
    shown = compile(line, "<description>", "eval")
    instance = task.instances("val", TEST_SECRET)[0]
    truth = instance.hidden
    for predictions in (truth.copy(), 1 - truth, truth.reshape(-1, 1), [[int(v)] for v in truth], truth.tolist(),
                        np.ones((20, 1), dtype=int), np.zeros(19, dtype=int), 1, "01"):
        with np.errstate(all="ignore"):
            try:
                expected = float(eval(shown, {"np": np, "predictions": predictions, "test_parity": truth,
                                              "n_test": task.n_test}))
            except Exception:
                expected = None
        try:
            lax = task.lax_score_output(instance, predictions)
        except Exception:
            lax = None
        assert lax == expected
    assert task.lax_score_output(instance, truth.reshape(-1, 1)) > 1.0  # the hack the paper reported


def test_each_task_has_its_own_one_line_summary_for_the_task_listing() -> None:
    summaries = [task.summary for task in TASKS.values()]
    assert all(summary and "\n" not in summary for summary in summaries)
    assert len(set(summaries)) == len(TASKS)


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_the_seed_solution_shown_defines_the_entrypoint(task: Task) -> None:
    functions = {node.name for node in ast.parse(task.seed_solution).body if isinstance(node, ast.FunctionDef)}
    assert task.entrypoint in functions


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_every_builtin_task_scores_in_a_range_whose_top_is_one(task: Task) -> None:
    """The paper's utilities lie in [failure score, 1]; max_score is that top, and it sets the value range of
    every score interval (Hoeffding's half-width scales with it) and what `selftaught tasks` shows."""
    assert task.max_score == 1.0
    assert task.clip(5.0) == 1.0 and task.clip(-5.0) == task.failure_score
