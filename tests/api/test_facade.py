"""The Python API: keyword arguments named like the flags, typed results whose to_dict() is the command's --json,
progress through a callback, and the CLI's typed errors (never SystemExit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import selftaught
from selftaught.cli import main
from selftaught.errors import ConfigError, UserError

TINY = {"iterations": 1, "downstream_runs": 2, "max_responses": 2, "utility_budget": 4, "lm_budget": 1,
        "meta_utility_budget": 2}
TINY_FLAGS = ["--iterations", "1", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "4",
              "--lm-budget", "1", "--meta-utility-budget", "2"]


def test_run_from_python_equals_the_command_and_reports_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[str] = []
    result = selftaught.run(task="parity_noise", lm="mutate", runs_dir=tmp_path / "py", seed=3, progress=lines.append,
                            **TINY)
    assert isinstance(result, selftaught.RunResult) and result.complete and result.status == "complete"
    assert result.run_dir.parent == tmp_path / "py" and len(result.iterations) == 2
    assert result.to_dict() == json.loads((result.run_dir / "summary.json").read_text())
    assert any("measuring meta-utility" in line for line in lines)
    assert main(["run", "--task", "parity_noise", "--lm", "mutate", "--runs-dir", str(tmp_path / "cli"), "--seed",
                 "3", *TINY_FLAGS, "--json"]) == 0
    command = json.loads(capsys.readouterr().out)
    assert set(command) == set(result.to_dict())
    strip = ("run_dir", "duration", "sessions", "lm_cache")
    assert {k: v for k, v in command.items() if k not in strip} == \
        {k: v for k, v in result.to_dict().items() if k not in strip}
    loaded = selftaught.load_run(result.run_dir)
    assert loaded.status == "complete" and loaded.iterations == result.iterations
    assert "def improve_algorithm" in loaded.improver(1)
    with pytest.raises(UserError, match="has no improver I_7"):
        loaded.improver(7)


def test_mistakes_are_the_clis_typed_errors_not_system_exit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown argument 'iteratons'"):
        selftaught.run(iteratons=1)
    with pytest.raises(ConfigError, match="lm_budget must be at least"):
        selftaught.run(lm_budget=0, runs_dir=tmp_path)
    with pytest.raises(UserError, match="unknown task 'nope'"):
        selftaught.score("nope", tmp_path / "x.py")
    with pytest.raises(UserError, match="not found"):
        selftaught.transfer(tmp_path / "missing.py")
    with pytest.raises(UserError, match="cannot be combined with --repeats"):
        selftaught.run(resume=tmp_path, repeats=2)
    assert not any(tmp_path.iterdir())


def test_score_and_improve_from_python(tmp_path: Path) -> None:
    seed = tmp_path / "seed.py"
    assert main(["tasks", "--seed", "parity_noiseless", "--out", str(seed)]) == 0
    scored = selftaught.score("parity_noiseless", seed, split="val")
    assert 0.0 <= scored.score <= 1.0 and scored.to_dict()["score"] == scored.score
    improved = selftaught.improve("parity_noiseless", solution=seed, lm="mutate", lm_budget=1, max_responses=2,
                                  utility_budget=3)
    assert improved.failure is None and improved.solution is not None
    assert improved.to_dict()["lm_calls"] == 1 and improved.to_dict()["initial_score_val"] == scored.score


def test_estimate_from_python_prices_without_contacting_a_model() -> None:
    priced = selftaught.estimate("run", lm="openai:gpt-4o", iterations=1)
    assert priced.usd is not None and 0 < priced.usd.low <= priced.usd.expected <= priced.usd.high
    study = selftaught.estimate("reproduce", lm="mutate", seeds=2, iterations=1, tasks=["parity_noiseless"],
                                sandbox_samples=6)
    one = selftaught.estimate("reproduce", lm="mutate", seeds=1, iterations=1, tasks=["parity_noiseless"],
                              sandbox_samples=6)
    assert study.to_dict()["total"]["calls"]["high"] > one.to_dict()["total"]["calls"]["high"]
    with pytest.raises(UserError, match="estimate prices run, transfer, compare, arena or reproduce"):
        selftaught.estimate("nope")
    with pytest.raises(UserError, match="needs improver=FILE"):
        selftaught.estimate("transfer")
