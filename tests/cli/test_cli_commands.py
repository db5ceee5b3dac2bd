"""Every command's JSON shape, and bad input answered with one line and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main
from selftaught.evaluate import evaluate
from selftaught.tasks import get_task
from selftaught.tasks._groups import BENCHMARKS

DATA = Path(__file__).resolve().parent.parent / "data"
USAGE_KEYS = {"calls", "input_tokens", "output_tokens", "cost_usd", "cache_hits"}


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert status == 0, out
    data: dict[str, Any] = json.loads(out)
    return data


def test_tasks_lists_the_six_paper_tasks_then_the_benchmarks_with_split_sizes(
    capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_json(capsys, "tasks")
    names = [t["name"] for t in data["tasks"]]
    assert names == ["parity_noise", "parity_noiseless", "str_grid_dist", "modified_quadratic_assignment",
                     "three_sat", "maxcut", *BENCHMARKS]
    for t in data["tasks"]:
        assert t["splits"]["test"] > t["splits"]["val"] > 0 and t["summary"]


def test_score_reports_task_split_and_score(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "score", "lpn", str(DATA / "parity_solver.py"), "--split", "test")
    assert data["task"] == "parity_noise" and data["split"] == "test"
    assert data["score"] > 0.9 and data["instances"] == 50


def test_improve_reports_solution_scores_and_calls_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (DATA / "parity_solver.py").read_text()
    script = tmp_path / "s.json"
    script.write_text(json.dumps([f"```python\n{good}```"]))
    data = run_json(capsys, "improve", "parity_noiseless", "--lm", f"scripted:{script}")
    assert data["solution"].strip() == good.strip()
    assert data["score_val"] == 1.0 and data["score_test"] == 1.0
    assert data["lm_calls"] == 1 and data["utility_calls"] == 6
    assert set(data["usage"]) >= USAGE_KEYS and data["usage"]["calls"] == 1
    assert data["usage"]["by_level"]["task"]["calls"] == 1


def test_improve_with_the_offline_default_says_no_model_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["improve", "parity_noiseless", "--lm-budget", "1", "--max-responses", "2"])
    captured = capsys.readouterr()
    assert status == 0
    assert "no language model" in captured.err.lower() or "offline" in captured.err.lower()
    assert "val" in captured.out


def test_transfer_reports_the_papers_three_columns_per_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (DATA / "parity_solver.py").read_text()
    script = tmp_path / "s.json"
    script.write_text(json.dumps([f"```python\n{good}```"]))
    data = run_json(capsys, "transfer", str(DATA / "better_improver.py"), "--tasks", "parity_noiseless",
                    "--lm", f"scripted:{script}", "--downstream-runs", "1", "--out", str(tmp_path / "t.json"))
    (row,) = data["rows"]
    assert row["task"] == "parity_noiseless"
    assert 0.3 < row["seed_utility"] < 0.7
    assert row["meta_utility_seed_improver"] == 1.0 and row["meta_utility_improver"] == 1.0
    assert set(data["usage"]) >= USAGE_KEYS and data["usage"]["calls"] >= 2


def test_run_reports_run_dir_and_meta_utility_per_iteration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_json(capsys, "run", "--iterations", "1", "--downstream-runs", "1", "--max-responses", "2",
                    "--task", "parity_noiseless", "--runs-dir", str(tmp_path))
    assert Path(data["run_dir"]).is_dir()
    assert len(data["iterations"]) == 2
    assert set(data["usage"]) >= USAGE_KEYS and set(data["usage"]["by_level"]) == {"meta", "task"}
    assert data["usage"]["by_iteration"]["1"]["calls"] >= 1
    for it in data["iterations"]:
        assert 0.0 <= it["meta_utility_val"] <= 1.0 and 0.0 <= it["meta_utility_test"] <= 1.0


def test_a_run_can_be_configured_from_a_toml_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.toml"
    config.write_text('task = "parity_noiseless"\niterations = 0\n[budgets]\ndownstream_runs = 1\n')
    data = run_json(capsys, "run", "--config", str(config), "--runs-dir", str(tmp_path / "r"))
    manifest = json.loads((Path(data["run_dir"]) / "manifest.json").read_text())
    assert manifest["config"]["downstream_runs"] == 1 and manifest["task"]["name"] == "parity_noiseless"
    assert len(data["iterations"]) == 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["score", "no_such_task", "x.py"], "unknown task"),
        (["score", "lpn", "missing.py"], "not found"),
        (["score", "lpn", str(DATA / "better_improver.py")], "does not define algorithm"),
        (["improve", "lpn", "--lm", "nonsense:model"], "lm"),
        (["improve", "lpn", "--lm", "scripted:/no/such/file.json"], "not found"),
        (["run", "--iterations", "-1"], "iterations"),
        (["run", "--iterations", "many"], "invalid int"),
        (["run", "--config", "/no/such.toml"], "config file not found"),
        (["transfer", str(DATA / "parity_solver.py")], "does not define improve_algorithm"),
        (["transfer", str(DATA / "better_improver.py"), "--tasks", "maxcut,bogus"], "unknown task"),
    ],
)
def test_bad_input_gets_one_line_and_a_nonzero_exit(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    status = main(argv)
    err = capsys.readouterr().err
    assert status != 0
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note:")]
    assert len(lines) == 1 and lines[0].startswith("selftaught: error:"), err
    assert needle.lower() in lines[0].lower()
    assert "Traceback" not in err


def test_the_console_script_runs_as_a_module() -> None:
    done = subprocess.run([sys.executable, "-m", "selftaught", "tasks", "--json"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and len(json.loads(done.stdout)["tasks"]) == 6 + len(BENCHMARKS)


def test_a_users_task_file_works_wherever_a_task_name_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "mytask.py"
    solution = tmp_path / "sorted_solution.py"
    solution.write_text("def algorithm(values):\n    return sorted(values)\n")
    data = run_json(capsys, "score", str(example), str(solution))
    assert data["task"] == "sort_list" and data["score"] == 1.0
    seed = run_json(capsys, "improve", str(example), "--lm-budget", "1", "--max-responses", "2")
    assert seed["task"] == "sort_list" and 0.0 <= seed["score_val"] <= 1.0


def test_score_reproduces_the_score_a_run_recorded_for_a_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A program that draws random numbers scores by its seed: `score --seed` derives it as the run did.
    coin = "import numpy as np\ndef algorithm(x, y, t):\n    return np.random.randint(0, 2, size=len(t))\n"
    script = tmp_path / "coin.json"
    script.write_text(json.dumps([f"```python\n{coin}```"]))
    data = run_json(capsys, "run", "--iterations", "0", "--downstream-runs", "1", "--max-responses", "2",
                    "--lm", f"scripted:{script}", "--seed", "11", "--runs-dir", str(tmp_path / "runs"))
    run_dir = Path(data["run_dir"])
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    recorded = {(e["program"], e["split"]): e["score"] for e in events
                if e["kind"] == "utility_call" and not e.get("cached") and e.get("program")}
    task = get_task("lpn")
    checked = 0
    for (digest, split), score in recorded.items():
        program = (run_dir / "programs" / f"{digest}.py").read_text()
        if len({evaluate(task, program, split, seed=s).score for s in (1, 2, 3)}) == 1:
            continue  # its score does not depend on the seed: it would prove nothing
        again = run_json(capsys, "score", "lpn", str(run_dir / "programs" / f"{digest}.py"), "--split", split,
                         "--seed", "11")
        assert again["score"] == score, (digest, split)
        checked += 1
    assert checked >= 1, "the run scored no program whose score depends on its seed"
