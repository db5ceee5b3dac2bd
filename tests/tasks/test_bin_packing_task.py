"""Online bin packing: FunSearch's two instance families, the harness's placement, the host's check of a packing.

The seed (best fit) and first fit are deterministic and run far inside the 2 s limit (under 0.1 s on a 5,000-item
instance), so their val scores are pinned to rounding: nothing but a change of instances, harness or score map
can move them.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import json
import math
import random
from functools import cache
from typing import Any

import numpy as np
import pytest

from selftaught.evaluate import Evaluation, evaluate
from selftaught.sandbox._guest import _wire
from selftaught.tasks import BadOutput, Instance, get_task
from selftaught.tasks.bin_packing import (
    EXCESS_SCALE,
    HARNESS,
    BinPackingTask,
    drive,
    excess_of_score,
    excess_score,
    l1_bound,
)
from support import TEST_SECRET

FIRST_FIT = "import numpy as np\n\n\ndef priority(item, bins):\n    return -np.arange(len(bins))\n"
BEST_FIT = "def priority(item, bins):\n    return -(bins - item)\n"
#: Val scores with TEST_SECRET (docs/tasks.md).
PINNED = {"seed": 0.52770, "best_fit": 0.52770, "first_fit": 0.50531}


@pytest.fixture(scope="module")
def task() -> BinPackingTask:
    return BinPackingTask()


@cache
def on_val(program: str) -> Evaluation:
    task = BinPackingTask()
    return evaluate(task, program, "val", secret=TEST_SECRET)


def slow_pack(items: list[float], capacity: float, rule: str) -> int:
    """Bins used by first fit or best fit, placed by hand (a list of open bins, a new one when none fits)."""
    room: list[float] = []
    for item in items:
        fits = [i for i, r in enumerate(room) if r >= item]
        if not fits:
            room.append(capacity - item)
            continue
        chosen = fits[0] if rule == "first" else min(fits, key=lambda i: (room[i], i))
        room[chosen] -= item
    return len(room)


def test_even_instances_are_weibull_5k_and_odd_ones_or_library_style(task: BinPackingTask) -> None:
    val, test = task.instances("val", TEST_SECRET), task.instances("test", TEST_SECRET)
    assert (len(val), len(test)) == (10, 40) and task.time_limit == 2.0 and task.entrypoint == "priority"
    weibull = np.concatenate([i.args[0] for i in test[0::2]])
    for index, instance in [*enumerate(val), *enumerate(test)]:
        items, capacity = instance.args
        assert items.dtype == np.float64 and items.ndim == 1 and np.array_equal(items, np.rint(items))
        if index % 2 == 0:
            assert instance.hidden == "weibull" and capacity == 100.0 and len(items) == 5000
            assert items.min() >= 1 and items.max() <= 100
        else:
            assert instance.hidden == "uniform" and capacity == 150.0 and len(items) in (120, 250, 500, 1000)
            assert items.min() >= 20 and items.max() <= 100
    # int(Weibull(scale 45, shape 3)): mean 45 * Gamma(4/3) - 1/2 = 39.69, standard deviation 14.6 (the items of
    # FunSearch's Weibull 5k set: means 39.55..40.24, 39.75 in all; standard deviations 14.4..14.8)
    assert weibull.mean() == pytest.approx(45 * math.gamma(4 / 3) - 0.5, abs=0.2)
    assert weibull.std() == pytest.approx(14.6, abs=0.3)
    uniform_sizes = {len(i.args[0]) for i in test[1::2]}
    assert len(uniform_sizes) >= 3  # the OR1..OR4 sizes are drawn, not one fixed
    uniform = np.concatenate([i.args[0] for i in test[1::2]])
    assert set(np.unique(uniform)) == set(range(20, 101)) and uniform.mean() == pytest.approx(60, abs=1.5)


def test_val_and_test_share_no_instance_and_another_secret_draws_others(task: BinPackingTask) -> None:
    from selftaught.tasks import SplitSecret

    def digests(split: str, secret: SplitSecret) -> set[bytes]:
        return {i.args[0].tobytes() for i in task.instances(split, secret)}

    val, test = digests("val", TEST_SECRET), digests("test", TEST_SECRET)
    assert len(val) == 10 and len(test) == 40 and not val & test
    assert not val & digests("val", SplitSecret.from_text("another secret", "test"))


@pytest.mark.parametrize("rule", ["first", "best"])
def test_the_harness_places_items_as_first_fit_and_best_fit_do(task: BinPackingTask, rule: str) -> None:
    def first(item: float, bins: np.ndarray) -> np.ndarray:
        return -np.arange(len(bins), dtype=float)

    def best(item: float, bins: np.ndarray) -> np.ndarray:
        return -(bins - item)

    for instance in task.instances("val", TEST_SECRET)[:2]:
        items, capacity = instance.args
        placed = drive(first if rule == "first" else best, items, capacity)
        used = slow_pack(items.tolist(), capacity, rule)
        assert len(set(placed.tolist())) == used
        assert task.score_output(instance, placed, 0.1) == pytest.approx(
            excess_score((used - l1_bound(items, capacity)) / l1_bound(items, capacity)))


def test_the_harness_refuses_priorities_of_another_length_or_with_nan() -> None:
    items = np.array([3.0, 4.0, 5.0])
    with pytest.raises(ValueError, match="one number per bin"):
        drive(lambda item, bins: [1.0], items, 10.0)
    with pytest.raises(ValueError, match="one number per bin"):
        drive(lambda item, bins: 0.0, items, 10.0)
    with pytest.raises(ValueError, match="NaN"):
        drive(lambda item, bins: np.full(len(bins), np.nan), items, 10.0)
    assert drive(lambda item, bins: np.where(bins < 10, -np.inf, 0.0), items, 10.0).tolist() == [0, 1, 2]


def test_the_harness_is_drive_alone_defined_from_its_source() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(HARNESS, "<harness>", "exec"), namespace)
    placed = namespace["drive"](lambda item, bins: -(bins - item), np.array([60.0, 50.0, 40.0, 30.0]), 100.0)
    assert placed.tolist() == [0, 1, 0, 1]


def test_a_packing_scores_its_excess_over_the_l1_bound(task: BinPackingTask) -> None:
    exact = Instance(args=(np.array([50.0, 50.0, 30.0, 70.0]), 100.0), hidden="hand")  # L1 = 2
    assert task.score_output(exact, [0, 0, 1, 1], 0.1) == 1.0
    assert task.score_output(exact, np.array([3, 3, 1, 1]), 0.1) == 1.0  # bins are named, not numbered in order
    assert task.score_output(exact, [0, 1, 2, 2], 0.1) == pytest.approx(1 / (1 + 0.5 / EXCESS_SCALE))
    assert task.score_output(exact, [0, 1, 2, 3], 0.1) == pytest.approx(1 / 21)
    assert excess_score(0.05) == 0.5 and excess_score(0.10) == pytest.approx(1 / 3)
    assert excess_of_score(excess_score(0.0412)) == pytest.approx(0.0412)
    scores = [excess_score(e) for e in np.linspace(0, 2, 50)]
    assert all(a > b for a, b in itertools.pairwise(scores)) and 0 < scores[-1] < scores[0] == 1.0


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ([0, 0, 0, 1], "over the capacity"),  # 50 + 50 + 30 in one bin
        ([0, 0, 1], "bin of each of the 4 items"),
        ([0, 0, 1, 1, 2], "bin of each of the 4 items"),
        ([0, 0, 1, 4], "outside 0..3"),
        ([0, 0, 1, -1], "outside 0..3"),
        (np.array([0, 0, 1, -1]), "outside 0..3"),
        ([0, 0, 1.0, 1], "bin of each"),
        ([True, True, False, False], "bin of each"),
        (np.array([0.0, 0.0, 1.0, 1.0]), "bin of each"),
        (np.zeros((4, 1), dtype=int), "bin of each"),
        ([[0], [0], [1], [1]], "bin of each"),
        ("0011", "bin of each"),
        (None, "bin of each"),
        (2, "bin of each"),
    ],
)
def test_malformed_or_overfull_packings_are_bad_output(task: BinPackingTask, bad: Any, reason: str) -> None:
    instance = Instance(args=(np.array([50.0, 50.0, 30.0, 70.0]), 100.0), hidden="hand")
    with pytest.raises(BadOutput, match=reason):
        task.score_output(instance, bad, 0.1)


def test_the_seed_is_best_fit_and_scores_the_pinned_value_beside_first_fit() -> None:
    task = get_task("bin_packing")
    seed, best, first = on_val(task.seed_solution), on_val(BEST_FIT), on_val(FIRST_FIT)
    for evaluation in (seed, best, first):
        assert evaluation.failure is None and evaluation.failures == {}
    assert seed.score == pytest.approx(PINNED["seed"], abs=1e-5)
    assert [o.score for o in seed.outcomes] == [o.score for o in best.outcomes]
    assert first.score == pytest.approx(PINNED["first_fit"], abs=1e-5)
    # per instance, first fit never beats best fit here; FunSearch's Weibull 5k figures are 3.98% and 4.23%
    assert all(f.score <= b.score for f, b in zip(first.outcomes, best.outcomes, strict=True))
    weibull_best = np.mean([excess_of_score(o.score) for o in best.outcomes[0::2]])
    weibull_first = np.mean([excess_of_score(o.score) for o in first.outcomes[0::2]])
    assert 0.035 < weibull_best < weibull_first < 0.05


def test_a_bad_priority_fails_its_instances_and_a_program_without_priority_fails_to_load() -> None:
    short = on_val("def priority(item, bins):\n    return [1.0]\n")
    assert short.failures == {"exception": 10} and "one number per bin" in short.detail and short.score == 0.0
    missing = on_val("def algorithm(item, bins):\n    return -(bins - item)\n")
    assert missing.failure == "missing_entrypoint" and "priority" in missing.detail


def test_the_description_states_the_tasks_limits_sizes_and_score_map(task: BinPackingTask) -> None:
    stated: dict[str, Any] = {}
    for node in ast.walk(ast.parse(task.description)):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                stated[node.targets[0].id] = ast.literal_eval(node.value)
    sizes = ("weibull_items", "weibull_scale", "weibull_shape", "weibull_capacity", "uniform_sizes", "uniform_low",
             "uniform_high", "uniform_capacity")
    assert {name: value for name, value in stated.items() if name != "total"} == {
        "TIME_LIMIT": task.time_limit, "LOAD_TIME_LIMIT": task.load_time_limit, "FAILURE_SCORE": task.failure_score,
        "N_INSTANCES": task.split_sizes["val"], "N_TEST_INSTANCES": task.split_sizes["test"],
        "EXCESS_SCALE": EXCESS_SCALE, **{name: getattr(task, name) for name in sizes}}
    # The description's own packing loop and instance families, run: they agree with the harness and the task.
    namespace: dict[str, Any] = {}
    exec(task.description, namespace)
    namespace["priority"] = lambda item, bins: -(bins - item)
    instance = task.instances("val", TEST_SECRET)[1]
    items, capacity = instance.args
    placed = drive(namespace["priority"], items, capacity)
    assert namespace["online_binpack"](items.tolist(), int(capacity)) == len(set(placed.tolist()))
    random.seed(7)
    weibull_items, weibull_capacity = namespace["random_instance"](0)
    uniform_items, uniform_capacity = namespace["random_instance"](1)
    assert (len(weibull_items), weibull_capacity) == (task.weibull_items, task.weibull_capacity)
    assert np.mean(weibull_items) == pytest.approx(39.7, abs=0.6)
    assert uniform_capacity == task.uniform_capacity and len(uniform_items) in task.uniform_sizes
    assert min(uniform_items) >= task.uniform_low and max(uniform_items) <= task.uniform_high


def test_the_output_bound_holds_the_largest_packing_in_either_form_and_not_long_floats(task: BinPackingTask) -> None:
    n = task.weibull_items
    for packing in (np.full(n, n - 1, dtype=np.int64), [n - 1] * n):
        assert len(json.dumps(_wire.to_wire(packing), separators=(",", ":"))) <= task.max_output_bytes
    long_floats = np.full(n, -1.2345678901234567e-300)
    assert len(json.dumps(_wire.to_wire(long_floats), separators=(",", ":"))) > task.max_output_bytes


EVADES = """import builtins
_real, _seen = builtins.compile, []
def _compile(*args, **kwargs):  # were the worker to call it while its audit record is quiet, this would run unseen
    _seen.append(args[1] if len(args) > 1 else "?")
    return _real(*args, **kwargs)
builtins.compile = _compile
def priority(item, bins):
    if _seen:
        raise RuntimeError(f"the worker compiled {_seen} with the program's compile")
    return -(bins - item)
"""


def test_the_harness_is_defined_before_the_program_can_replace_what_defining_it_calls() -> None:
    task = get_task("bin_packing")
    result = evaluate(task, EVADES, "val", secret=TEST_SECRET)
    assert result.failures == {} and result.score == pytest.approx(0.5277, abs=1e-4), result.detail
