"""Every reported figure comes with its interval: the run's iterations, its table, `score`; the report agrees."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.report._build import build_report
from selftaught.stats import hoeffding_halfwidth
from selftaught.tasks import get_task


def test_each_iteration_records_its_intervals_and_the_report_recomputes_the_same(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "--iterations", "1", "--downstream-runs", "3", "--max-responses", "2", "--utility-budget",
                   "4", "--meta-utility-budget", "2", "--runs-dir", str(tmp_path), "--json"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    figures = {row["iteration"]: row for row in build_report(Path(summary["run_dir"]))["figures"]}
    for item in summary["iterations"]:
        for split in ("val", "test"):
            low, high = item[f"meta_utility_{split}_ci"]
            assert low <= item[f"meta_utility_{split}"] <= high
            if not item["kept_previous"]:  # the report recomputes it from the events alike (same seed, same data)
                fig = figures[item["iteration"]][split]
                assert (fig["low"], fig["high"]) == (low, high)
        assert item["hoeffding_halfwidth"] == pytest.approx(hoeffding_halfwidth(3), abs=1e-6)
    assert any(i["meta_utility_val_ci"][0] < i["meta_utility_val_ci"][1] for i in summary["iterations"])


def test_the_run_table_prints_each_figure_with_its_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--iterations", "0", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget",
                 "4", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    run_dir = next(tmp_path.iterdir())
    item = json.loads((run_dir / "summary.json").read_text())["iterations"][0]
    low, high = item["meta_utility_val_ci"]
    assert f"{item['meta_utility_val']:.4f} [{low:.4f}, {high:.4f}]" in out
    assert f"±{item['hoeffding_halfwidth']:.3f}" in out


def test_score_gives_an_interval_over_instances_and_the_hoeffding_bound(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = tmp_path / "seed.py"  # the seed solution: right on about half the instances
    seed.write_text(get_task("parity_noise").seed_solution)
    assert main(["score", "parity_noise", str(seed), "--split", "val", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    low, high = record["score_ci"]
    assert low <= record["score"] <= high and low < high
    n = record["instances"]
    assert record["hoeffding_halfwidth"] == pytest.approx(math.sqrt(math.log(40) / (2 * n)), abs=1e-6)
