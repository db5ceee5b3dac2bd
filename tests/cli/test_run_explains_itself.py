"""A newcomer's first run says what its numbers are, why they are wide, and what to do next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftaught.cli import main

TINY = ["--iterations", "1", "--downstream-runs", "3", "--max-responses", "2", "--utility-budget", "4",
        "--lm-budget", "1", "--meta-utility-budget", "2"]


def test_the_run_output_explains_lpn_accuracy_the_bound_and_the_next_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *TINY, "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (run_dir,) = tmp_path.iterdir()
    assert "learning parity with noise (LPN)" in out and "about 0.5 is chance" in out
    assert "3 fresh downstream runs" in out and "±0.78 at 95%" in out  # Hoeffding for 3 runs in [0, 1]
    assert "not expected to beat chance" in out and "--lm" in out
    assert f"next: selftaught report {run_dir}" in out
    assert main(["run", *TINY, "--runs-dir", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "what the numbers are" not in json.dumps(data)


def test_a_task_without_a_known_scale_is_described_by_its_utility(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *TINY, "--task", "str_grid_dist", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "the utility of str_grid_dist (in [0, 1], higher is better)" in out and "chance" not in out.split(
        "what the numbers are")[1].split("\n")[0]
