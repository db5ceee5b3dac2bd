"""Each benchmark task reports its source's own measure beside our utility (`score`'s `source_measure`), read back
from the instance scores through the map its docs state; the paper's tasks report none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.tasks import Instance, get_task
from selftaught.tasks.bin_packing import excess_score
from selftaught.tasks.circle_packing import area_bound


def test_bin_packing_reports_the_mean_excess_of_its_valid_packings() -> None:
    measure = get_task("bin_packing").source_measure([], [excess_score(0.04), excess_score(0.06), None])
    assert measure is not None and measure["value"] == pytest.approx(5.0) and measure["instances"] == 2


def test_tsp_reports_the_mean_length_over_the_reference() -> None:
    measure = get_task("tsp").source_measure([], [0.8, 0.4, None])  # as long as the reference, twice as long
    assert measure is not None and measure["value"] == pytest.approx(1.5) and measure["instances"] == 2


def test_knapsack_reports_the_mean_optimality_gap() -> None:
    measure = get_task("knapsack").source_measure([], [1.0, 0.9, None])
    assert measure is not None and measure["value"] == pytest.approx(5.0) and measure["instances"] == 2


def test_circle_packing_reports_each_packings_sum_of_radii() -> None:
    instances = [Instance(args=(26,), hidden=area_bound(26)), Instance(args=(32,), hidden=area_bound(32))]
    measure = get_task("circle_packing").source_measure(instances, [2.635 / area_bound(26), None])
    assert measure is not None and measure["value"] == pytest.approx(2.635)
    assert measure["per_instance"] == [{"n": 26, "sum_of_radii": 2.635}, {"n": 32, "sum_of_radii": None}]


@pytest.mark.parametrize(("task", "has_measure"), [("knapsack", True), ("parity_noiseless", False)])
def test_score_prints_the_measure_beside_the_utility(task: str, has_measure: bool, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    seed = tmp_path / "seed.py"
    assert main(["tasks", "--seed", task, "--out", str(seed)]) == 0
    capsys.readouterr()
    assert main(["score", task, str(seed), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert ("source_measure" in data) == has_measure
    if has_measure:
        assert data["source_measure"]["value"] == pytest.approx(100 * (1 - data["score"]))
