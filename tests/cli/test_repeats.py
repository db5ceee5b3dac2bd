"""`selftaught run --repeats K`: K runs with consecutive seeds, and the mean curve over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.stop.curves import mean_curve

TINY = ["--iterations", "1", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "4",
        "--lm-budget", "1", "--meta-utility-budget", "2"]


def test_two_repeats_make_two_runs_with_consecutive_seeds_and_their_mean_curve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--repeats", "2", "--seed", "5", "--runs-dir", str(tmp_path), *TINY, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["repeats"] == 2 and data["seeds"] == [5, 6] and data["complete"]
    dirs = [Path(run["run_dir"]) for run in data["runs"]]
    assert len(set(dirs)) == 2 and all(d.parent == tmp_path for d in dirs)
    assert [json.loads((d / "manifest.json").read_text())["seed"] for d in dirs] == [5, 6]
    summaries = [json.loads((d / "summary.json").read_text()) for d in dirs]
    assert [len(s["iterations"]) for s in summaries] == [2, 2]
    for t, point in enumerate(data["curve"]):
        for split in ("val", "test"):
            values = [s["iterations"][t][f"meta_utility_{split}"] for s in summaries]
            assert point[split]["mean"] == pytest.approx(sum(values) / 2)
            assert point[split]["min"] == min(values) and point[split]["max"] == max(values)
            assert point[split]["low"] <= point[split]["mean"] <= point[split]["high"] and point[split]["n"] == 2
    saved = json.loads(Path(data["path"]).read_text())
    assert Path(data["path"]).parent == tmp_path and Path(data["path"]).name.startswith("repeats-")
    assert saved == data


def test_the_mean_curve_counts_each_iteration_over_the_runs_that_reached_it() -> None:
    def run(*scores: float) -> dict[str, object]:
        return {"iterations": [{"iteration": t, "meta_utility_val": v, "meta_utility_test": v / 2}
                               for t, v in enumerate(scores)]}

    curve = mean_curve([run(0.2, 0.4), run(0.4), run(0.6, 0.8)])
    assert [p["val"]["n"] for p in curve] == [3, 2]
    assert curve[0]["val"]["mean"] == pytest.approx(0.4) and curve[1]["test"]["mean"] == pytest.approx(0.3)
    assert curve[0]["val"]["std"] == pytest.approx(0.2) and curve[1]["val"]["values"] == [0.4, 0.8]


def test_repeats_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--repeats", "0", "--runs-dir", str(tmp_path)]) == 2
    assert "--repeats must be at least 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
