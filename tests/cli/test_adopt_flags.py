"""`run --adopt` and `--gate-runs`: bad values refused in one line, and the estimate counts the gate's runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import selftaught
from selftaught.api._resume import resumed_settings
from selftaught.cli import main
from selftaught.errors import UserError

TINY = ["--iterations", "2", "--downstream-runs", "2", "--lm", "openai:gpt-4o", "--estimate", "--json"]


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.strip()]
    return line


@pytest.mark.parametrize(("argv", "needle"), [
    (["run", "--adopt", "sometimes"], "--adopt: invalid choice: 'sometimes' (choose from 'always', 'better')"),
    (["run", "--adopt", "better", "--gate-runs", "5"], "--gate-runs must be at least 6, got 5"),
    (["run", "--gate-runs", "many"], "--gate-runs: invalid int value: 'many'"),
])
def test_a_bad_adoption_setting_is_refused_in_one_line(
        argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert needle in one_line_error(capsys, argv)
    assert list(tmp_path.iterdir()) == []  # refused before any run directory


def test_a_bad_adoption_setting_in_a_config_file_or_the_api_names_where_it_came_from(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.toml"
    config.write_text('adopt = "maybe"\n')
    line = one_line_error(capsys, ["run", "--config", str(config), "--runs-dir", str(tmp_path)])
    assert "adopt must be one of always, better, got 'maybe'" in line and str(config) in line
    with pytest.raises(UserError, match="gate_runs must be at least 6"):
        selftaught.run(adopt="better", gate_runs=2, runs_dir=tmp_path)


def estimate(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    assert main(["run", *TINY, *flags]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def gate_items(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for part in data["parts"] for i in part["items"] if "the gate" in i["name"]]


def test_the_estimate_counts_the_gates_runs_and_calls(capsys: pytest.CaptureFixture[str]) -> None:
    always = estimate(capsys)
    better = estimate(capsys, "--adopt", "better", "--gate-runs", "7")
    assert gate_items(always) == []
    items = gate_items(better)
    assert [i["name"] for i in items] == ["step 1: the gate, I_1 against I_0 (fresh val runs)",
                                          "step 2: the gate, I_2 against I_1 (fresh val runs)"]
    for item in items:  # both improvers' 7 runs when the step reaches the gate, none when it fails before
        assert (item["improver_runs"]["low"], item["improver_runs"]["high"]) == (0, 14)
        assert item["calls"]["high"] == 14 * 4  # each run at most --lm-budget (4) calls
    for key in ("calls", "samples", "input_tokens"):
        extra = {bound: sum(i[key][bound] for i in items) for bound in ("low", "expected", "high")}
        for bound in ("low", "expected", "high"):
            assert better["total"][key][bound] == pytest.approx(always["total"][key][bound] + extra[bound],
                                                                rel=1e-6, abs=1e-6), (key, bound)
    more = estimate(capsys, "--adopt", "better", "--gate-runs", "14")
    assert more["total"]["calls"]["high"] - always["total"]["calls"]["high"] == 2 * sum(
        i["calls"]["high"] for i in items)


def test_a_run_recorded_before_the_gate_resumes_with_the_papers_rule_and_refuses_another() -> None:
    older = {"seed": 0, "downstream_runs": 5}  # a manifest written before `adopt` and `gate_runs` existed

    def refusal(flag: str, value: Any, recorded: Any) -> str:
        return f"{flag} {value} differs from the run's ({recorded})"

    assert resumed_settings(older, {"adopt": "always", "gate_runs": 8}, frozenset(), refusal) == older
    with pytest.raises(UserError, match=r"--adopt better differs from the run's \(always\)"):
        resumed_settings(older, {"adopt": "better"}, frozenset(), refusal)
