"""`--estimate` prints and starts nothing; a priced model starts only with --yes or a "y" typed at a terminal."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main
from selftaught.cli._common import Reporter
from selftaught.cli._estimate import gate
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.forecast import estimate_run

DATA = Path(__file__).resolve().parent.parent / "data"
SEED = str(Path(__file__).resolve().parents[2] / "src/selftaught/improver/data/seed_improver.py")
TINY = ["--iterations", "1", "--downstream-runs", "1", "--max-responses", "2"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("selftaught:")]


@pytest.mark.parametrize("command", [
    ["run", *TINY],
    ["transfer", str(DATA / "better_improver.py"), "--tasks", "parity_noiseless,maxcut"],
    ["compare", SEED, str(DATA / "better_improver.py"), "--task", "parity_noiseless"],
    ["arena", "--improvers", f"seed,{DATA / 'better_improver.py'}", "--tasks", "parity_noiseless,maxcut"],
])
def test_estimate_prints_json_and_starts_nothing(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where `runs/` (a run directory, a transfer file) would be made
    status = main([*command, "--lm", "openai:gpt-4o", "--estimate", "--json", "--latency", "3"])
    out = capsys.readouterr().out
    assert status == 0
    data = json.loads(out)
    assert data["estimate"] == command[0] and data["latency_seconds"] == 3.0
    assert data["price_per_million_tokens"] == {"input": 2.5, "output": 10.0}
    total = data["total"]
    for key in ("calls", "requests", "samples", "input_tokens", "output_tokens", "usd", "wall_seconds"):
        assert total[key]["low"] <= total[key]["expected"] <= total[key]["high"], key
    assert total["usd"]["expected"] > 0
    assert sum(p["calls"]["high"] for p in data["parts"]) == total["calls"]["high"]
    assert list(tmp_path.iterdir()) == []  # no run directory, no transfer file: nothing started


def test_compare_of_the_seed_with_a_generated_improver_fixes_only_the_seeds_side(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", SEED, str(DATA / "better_improver.py"), "--task", "maxcut", "--downstream-runs", "3",
                 "--estimate", "--json"]) == 0
    (part,) = json.loads(capsys.readouterr().out)["parts"]
    a, b = part["items"]
    assert a["fixed"] and a["calls"] == {"low": 3, "expected": 3, "high": 3}
    assert not b["fixed"] and b["calls"] == {"low": 0, "expected": 3, "high": 3 * 4}
    assert main(["compare", SEED, SEED, "--task", "maxcut", "--estimate", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["parts"][0]["items"]) == 1  # the same improver: measured once


def test_a_priced_model_without_a_terminal_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    status = main(["run", *TINY, "--lm", "openai:gpt-4o", "--runs-dir", str(runs)])
    (line,) = error_lines(capsys.readouterr().err)
    assert status == 2 and "priced model" in line and "--estimate" in line and "--yes" in line
    assert not runs.exists()


def test_a_model_without_a_price_or_a_replayed_one_is_not_asked_about(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(estimate=False, yes=False, latency=10.0, json=False)
    def never(latency: float) -> Any:
        raise AssertionError("no estimate is needed")
    for config in (Config(), Config(lm="ollama:llama3"), Config(lm="openai:gpt-4o", cache="replay"),
                   Config(lm="openai:gpt-4o", prices={"gpt-4o": {"input": 0, "output": 0}})):
        assert gate(args, config, never, Reporter(False)) is None


@pytest.mark.parametrize(("answer", "starts"), [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False)])
def test_at_a_terminal_the_estimate_is_shown_and_only_y_starts_it(
    answer: str, starts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    shown = Terminal()
    monkeypatch.setattr("sys.stderr", shown)
    config = Config(lm="openai:gpt-4o", iterations=1)
    args = argparse.Namespace(estimate=False, yes=False, latency=10.0, json=False)
    def estimate(latency: float) -> Any:
        return estimate_run(config, latency=latency)
    if starts:
        assert gate(args, config, estimate, Reporter(False)) is None
        assert args.yes  # approved once: the runs of --repeats do not ask again
    else:
        with pytest.raises(UserError, match="not started"):
            gate(args, config, estimate, Reporter(False))
    text = shown.getvalue()
    assert "estimate of `selftaught run` with openai:gpt-4o" in text and "start? [y/N]" in text


def test_resume_is_not_estimated_nor_asked_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "--resume", str(tmp_path), "--estimate"])
    (line,) = error_lines(capsys.readouterr().err)
    assert status == 2 and "--estimate prices a new run" in line


def test_unknown_price_is_said_not_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", *TINY, "--lm", "vllm:my-model", "--estimate"]) == 0
    out = capsys.readouterr().out
    assert "no price is known for 'my-model'" in out and "unknown" in out.split("dollars", 1)[1].splitlines()[0]
    assert main(["run", *TINY, "--lm", "vllm:my-model", "--estimate", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["usd"] is None and data["price_per_million_tokens"] is None


@pytest.mark.parametrize("latency", ["0", "-1", "nan", "inf"])
def test_a_bad_latency_is_one_line(latency: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--estimate", f"--latency={latency}"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert "--latency must be a positive number of seconds" in line
