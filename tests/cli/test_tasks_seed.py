"""`selftaught tasks --seed TASK`: a task's seed solution, printed or written to a new file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.tasks import get_task


def test_the_seed_solution_is_written_to_a_new_file_and_never_over_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "seed.py"
    assert main(["tasks", "--seed", "lpn", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"task": "parity_noise", "entrypoint": "algorithm",
                                                   "path": str(out)}
    assert out.read_text() == get_task("parity_noise").seed_solution
    out.write_text("mine")
    assert main(["tasks", "--seed", "lpn", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "mine"


def test_without_out_it_is_printed_and_a_bad_task_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--seed", "maxcut"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == get_task("maxcut").seed_solution.rstrip("\n")
    assert main(["tasks", "--seed", "nope"]) == 2
    assert capsys.readouterr().err.startswith("selftaught: error: unknown task 'nope'")
    assert main(["tasks", "--out", "x.py"]) == 2
