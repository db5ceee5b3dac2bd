"""Circle packing: n from disjoint val/test sets, the records n = 26 and 32 on their own, a strict geometric scorer."""

from __future__ import annotations

import ast
import json
import math
import random
from typing import Any

import numpy as np
import pytest

from selftaught.cli import main
from selftaught.errors import UserError
from selftaught.evaluate import evaluate
from selftaught.tasks import REFERENCE_SPLIT, BadOutput, Instance, SplitSecret, get_task
from selftaught.tasks.circle_packing import RECORDS, TOLERANCE, CirclePackingTask, area_bound
from support import TEST_SECRET

#: The seed's val score with TEST_SECRET (docs/tasks.md). The seed is a closed-form grid and the scorer pure
#: arithmetic: nothing (time, load, randomness) can move it, so the tolerance is rounding.
SEED_VAL = 0.8349
SEED_REFERENCE = {26: 0.7531, 32: 0.8355}


@pytest.fixture(scope="module")
def task() -> CirclePackingTask:
    return CirclePackingTask()


def grid(n: int) -> list[tuple[float, float, float]]:
    """The seed's packing, computed here: k = ceil(sqrt(n)) equal circles per row, radius 1 / (2k)."""
    k = math.ceil(math.sqrt(n))
    return [((2 * (i % k) + 1) / (2 * k), (2 * (i // k) + 1) / (2 * k), 1 / (2 * k)) for i in range(n)]


def grid_score(n: int) -> float:
    return n / (2 * math.ceil(math.sqrt(n))) / math.sqrt(n / math.pi)


class RecordedChoices:
    """Stands for the `random` module in the description's sketch: its choices, seeded and recorded."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.drawn: list[int] = []

    def choice(self, values: list[int]) -> int:
        self.drawn.append(self.rng.choice(values))
        return self.drawn[-1]


def sizes_of(task: CirclePackingTask, split: str, secret: SplitSecret = TEST_SECRET) -> list[int]:
    return [instance.args[0] for instance in task.instances(split, secret)]


def test_val_draws_even_and_test_odd_numbers_of_circles_never_a_records_n(task: CirclePackingTask) -> None:
    secrets = [TEST_SECRET, *(SplitSecret.from_text(f"another secret {i}", "test") for i in range(6))]
    val = [n for secret in secrets for n in sizes_of(task, "val", secret)]
    test = [n for secret in secrets for n in sizes_of(task, "test", secret)]
    assert len(sizes_of(task, "val")) == 6 and len(sizes_of(task, "test")) == 12
    assert all(isinstance(n, int) and 20 <= n <= 40 for n in val + test)
    assert {n % 2 for n in val} == {0} and {n % 2 for n in test} == {1}
    assert not set(val) & set(test) and not set(val + test) & set(RECORDS)
    assert len(set(val)) >= 6 and len(set(test)) >= 8  # the draws spread over each split's set
    assert len({tuple(sizes_of(task, "test", secret)) for secret in secrets}) == len(secrets)  # the secret decides


def test_the_reference_split_is_the_records_n_26_and_32_whatever_the_secret(task: CirclePackingTask) -> None:
    other = SplitSecret.from_text("someone else's secret", "test")
    assert sizes_of(task, REFERENCE_SPLIT) == sizes_of(task, REFERENCE_SPLIT, other) == [26, 32]
    assert list(RECORDS.items()) == [(26, 2.635), (32, 2.937)]
    labels = list(task.reference_instances())
    assert labels[0].startswith("n=26 ") and "2.635 scores 0.9159" in labels[0]
    assert labels[1].startswith("n=32 ") and "2.937 scores 0.9202" in labels[1]
    with pytest.raises(ValueError, match="choose from val, test, reference"):
        task.instances("train", TEST_SECRET)
    with pytest.raises(ValueError, match="choose from val, test\\)"):
        get_task("maxcut").instances(REFERENCE_SPLIT, TEST_SECRET)


def test_a_packing_scores_its_sum_of_radii_over_the_area_bound(task: CirclePackingTask) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    n = instance.args[0]
    assert area_bound(n) == pytest.approx(math.sqrt(n / math.pi))
    assert task.score_output(instance, grid(n), 0.0) == pytest.approx(grid_score(n))
    assert task.score_output(instance, np.array(grid(n)), 0.0) == pytest.approx(grid_score(n))
    assert task.score_output(instance, [list(c) for c in grid(n)], 0.0) == pytest.approx(grid_score(n))
    one_big = [(0.5, 0.5, 0.5)] + [(0, 0, 0)] * (n - 1)  # circles of radius 0 are allowed (and add nothing)
    assert task.score_output(instance, one_big, 0.0) == pytest.approx(0.5 / area_bound(n))
    assert task.score_output(instance, [(0, 0, 0)] * n, 0.0) == 0.0 == task.failure_score
    assert RECORDS[26] / area_bound(26) == pytest.approx(0.9159, abs=1e-4)
    assert RECORDS[32] / area_bound(32) == pytest.approx(0.9202, abs=1e-4)


def test_no_valid_packing_scores_above_one_random_ones_included(task: CirclePackingTask) -> None:
    # Random centres outside the circles placed before, each radius grown as far as the square and those circles
    # allow: valid packings of all sorts of radii.
    rng = np.random.default_rng(7)
    for n in (20, 31, 40):
        instance = Instance(args=(n,), hidden=area_bound(n))
        for _ in range(5):
            packing: list[tuple[float, float, float]] = []
            while len(packing) < n:
                x, y = (float(v) for v in rng.random(2))
                room = min(x, y, 1 - x, 1 - y, *(math.hypot(x - a, y - b) - r for a, b, r in packing))
                if room > 0:
                    packing.append((x, y, room))
            assert 0.0 < task.score_output(instance, packing, 0.0) <= 1.0


def test_the_tolerance_is_one_in_a_billion_outside_the_square_and_between_circles(task: CirclePackingTask) -> None:
    instance = task.instances("test", TEST_SECRET)[0]
    n = instance.args[0]
    pad = [(0, 0, 0)] * (n - 2)
    assert TOLERANCE == task.tolerance == 1e-9
    inside = 0.25 + 0.5 * TOLERANCE
    assert task.score_output(instance, [(0.25, 0.25, inside), (0.75, 0.75, 0.25), *pad], 0.0) > 0
    with pytest.raises(BadOutput, match=r"circle 0 .* outside the unit square"):
        task.score_output(instance, [(0.25, 0.25, 0.25 + 2 * TOLERANCE), (0.75, 0.75, 0.25), *pad], 0.0)
    touching = [(0.25, 0.5, 0.25), (0.75, 0.5, 0.25 + 0.5 * TOLERANCE)]
    assert task.score_output(instance, [*touching, *pad], 0.0) == pytest.approx((0.5 + 0.5 * TOLERANCE) / area_bound(n))
    with pytest.raises(BadOutput, match="circles 0 and 1 overlap"):
        task.score_output(instance, [(0.25, 0.5, 0.25), (0.7, 0.5, 0.25), *pad], 0.0)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda n: grid(n)[:-1], "expected"),
        (lambda n: [*grid(n), (0.0, 0.0, 0.0)], "expected"),
        (lambda n: np.array(grid(n)).T, "shape"),
        (lambda n: np.array(grid(n))[:, :2], "shape"),
        (lambda n: np.array(grid(n)).astype(object), "object"),
        (lambda n: np.ones((n, 3), dtype=bool), "bool"),
        (lambda n: [(0.5, 0.5)] * n, "circle 0 is"),
        (lambda n: [(True, 0.5, 0.0)] * n, "circle 0 is"),
        (lambda n: [("0.5", 0.5, 0.0)] * n, "circle 0 is"),
        (lambda n: [[(0.5, 0.5, 0.1)]] * n, "circle 0 is"),
        (lambda n: [(0.5, 0.5, float("nan")), *grid(n)[1:]], "not a finite number"),
        (lambda n: [*grid(n)[:-1], (float("inf"), 0.5, 0.0)], "circle " + "{last} has a value"),
        (lambda n: [(0.5, 0.5, -0.1)] + [(0, 0, 0)] * (n - 1), "negative radius"),
        (lambda n: [(0.95, 0.5, 0.1)] + [(0, 0, 0)] * (n - 1), "outside the unit square"),
        (lambda n: [(0.5, -0.01, 0.0)] + [(0, 0, 0)] * (n - 1), "outside the unit square"),
        (lambda n: [(0.3, 0.3, 0.2), (0.5, 0.5, 0.2)] + [(0, 0, 0)] * (n - 2), "circles 0 and 1 overlap"),
        (lambda n: [(0.5, 0.5, 0.1)] * n, "overlap"),
        (lambda n: {"circles": grid(n)}, "got a dict"),
        (lambda n: None, "got None"),
        (lambda n: 2.6, "got a float"),
    ],
)
def test_an_invalid_packing_is_bad_output_with_its_reason(task: CirclePackingTask, bad: Any, reason: str) -> None:
    instance = task.instances("val", TEST_SECRET)[0]
    n = instance.args[0]
    with pytest.raises(BadOutput, match=reason.format(last=n - 1)):
        task.score_output(instance, bad(n), 0.0)


def test_the_description_states_the_codes_limits_sizes_tolerance_and_record_sizes(task: CirclePackingTask) -> None:
    stated = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(task.description).body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    assert stated == {"TIME_LIMIT": task.time_limit, "LOAD_TIME_LIMIT": task.load_time_limit,
                      "FAILURE_SCORE": task.failure_score, "N_INSTANCES": task.split_sizes["val"],
                      "N_TEST_INSTANCES": task.split_sizes["test"], "min_n": task.min_n, "max_n": task.max_n,
                      "tolerance": task.tolerance, "record_n": tuple(RECORDS)}
    assert task.max_output_bytes >= len(json.dumps([[0.123456789012345678] * 3] * task.max_n))


def test_the_descriptions_sketch_scores_what_the_task_does(task: CirclePackingTask) -> None:
    # The sketch the LM sees, run in-process on trusted programs: its draws are the val set, its map the task's.
    seed: dict[str, Any] = {}
    exec(task.seed_solution, seed)
    programs = {"seed": seed["algorithm"], "overlapping": lambda n: [(0.5, 0.5, 0.1)] * n,
                "one big circle": lambda n: [(0.5, 0.5, 0.5)] + [(0.0, 0.0, 0.0)] * (n - 1)}
    for label, program in programs.items():
        shown: dict[str, Any] = {}
        exec(task.description, shown)
        shown["call_with_time_limit"] = lambda seconds, function, *args: function(*args)
        shown["algorithm"] = program
        shown["random"] = draws = RecordedChoices(random.Random(3))
        value = shown["utility"]("")  # exec of an empty program leaves `algorithm` as set
        assert set(draws.drawn) <= set(task.sizes("val")) and len(draws.drawn) == task.split_sizes["val"]
        expected = []
        for n in draws.drawn:
            instance = Instance(args=(n,), hidden=area_bound(n))
            try:
                expected.append(task.score_output(instance, program(n), 0.0))
            except BadOutput:
                expected.append(task.failure_score)
        assert value == pytest.approx(sum(expected) / len(expected)), label


def test_the_seed_scores_its_grid_on_val_and_on_the_reference_instances_through_the_sandbox(
        task: CirclePackingTask) -> None:
    val = evaluate(task, task.seed_solution, "val", secret=TEST_SECRET)
    assert val.failure is None and val.failures == {}
    assert val.score == pytest.approx(SEED_VAL, abs=1e-4)
    assert [o.score for o in val.outcomes] == pytest.approx([grid_score(n) for n in sizes_of(task, "val")])
    reference = evaluate(task, task.seed_solution, REFERENCE_SPLIT, secret=TEST_SECRET)
    assert [o.score for o in reference.outcomes] == pytest.approx(list(SEED_REFERENCE.values()), abs=1e-4)
    assert [grid_score(n) for n in SEED_REFERENCE] == pytest.approx(list(SEED_REFERENCE.values()), abs=1e-4)


def test_score_reports_each_reference_instance_on_its_own(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    solution = tmp_path / "packing.py"
    solution.write_text("def algorithm(n):\n"
                        "    if n == 26:\n"
                        "        return [(0.5, 0.5, 0.5)] + [(0, 0, 0)] * (n - 1)\n"
                        "    return [(0.5, 0.5, 0.6)] * n\n")
    assert main(["score", "circle_packing", str(solution), "--split", "reference", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["split"] == "reference" and data["score_ci"] is None
    assert [item["score"] for item in data["reference"]] == pytest.approx([0.5 / area_bound(26), 0.0])
    assert [item["failure"] for item in data["reference"]] == [None, "bad_output"]
    assert data["reference"][0]["instance"].startswith("n=26") and data["reference"][1]["instance"].startswith("n=32")
    assert main(["score", "circle_packing", str(solution), "--split", "reference"]) == 0
    text = capsys.readouterr().out
    assert "n=26 (sum of radii = score x 2.8768; the record 2.635 scores 0.9159): score 0.1738" in text
    assert "n=32 (sum of radii = score x 3.1915; the record 2.937 scores 0.9202): score 0.0000 (bad_output)" in text


def test_a_task_without_reference_instances_refuses_the_reference_split_in_one_line(tmp_path: Any) -> None:
    from selftaught import score

    solution = tmp_path / "cut.py"
    solution.write_text("def algorithm(adjacency_matrix):\n    return [0] * len(adjacency_matrix)\n")
    with pytest.raises(UserError, match=r"task maxcut has no reference split .* the tasks with one: circle_packing"):
        score("maxcut", solution, split=REFERENCE_SPLIT)
