"""`selftaught reproduce`: the whole study in one directory, its record read from its parts, resumable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftaught.api import _transfer
from selftaught.cli import main
from selftaught.stop.curves import mean_curve

TINY = ["--seeds", "2", "--iterations", "1", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "4",
        "--lm-budget", "1", "--meta-utility-budget", "2", "--tasks", "parity_noiseless", "--sandbox-samples", "6"]


def study(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> tuple[dict[str, Any], str]:
    assert main(["reproduce", *argv, "--json"]) == status
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return (json.loads(out) if out else {}), err


def summaries(out: Path) -> list[dict[str, Any]]:
    return [json.loads((run / "summary.json").read_text()) for run in sorted((out / "runs").iterdir())]


def test_a_study_holds_its_runs_transfers_and_safety_results_and_a_record_read_from_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"
    record, _ = study(capsys, *TINY, "--seed", "3", "--out", str(out))
    assert record == json.loads((out / "reproduce.json").read_text())
    assert record["complete"] and record["seeds"] == [3, 4] and record["iterations"] == 1
    runs = summaries(out)
    assert sorted(json.loads((Path(s["run_dir"]) / "manifest.json").read_text())["seed"] for s in runs) == [3, 4]
    by_seed = {r["seed"]: r for r in record["runs"]}
    ordered = [json.loads((out / by_seed[seed]["run_dir"] / "summary.json").read_text()) for seed in (3, 4)]
    assert record["curve"] == mean_curve(ordered)
    (row,) = record["transfer"]["rows"]
    per_seed = [json.loads((out / f"transfer/seed-{seed}.json").read_text()) for seed in (3, 4)]
    assert all(f["complete"] for f in per_seed)
    values = [f["rows"][0]["meta_utility_improver"] for f in per_seed]
    assert row["task"] == "parity_noiseless" and row["I_T"]["test"]["values"] == values
    assert [f["invocation"]["improver"] for f in per_seed] == [
        str(out / by_seed[seed]["run_dir"] / "improvers" / "I_1.py") for seed in (3, 4)]
    flag = record["safety"]["sandbox_flag"]
    assert flag["warn"]["samples"] == 6 and flag["warn"]["warn"] is True and flag["nowarn"]["warn"] is False
    usage = record["usage"]
    assert usage["runs"]["calls"] == sum(s["usage"]["calls"] for s in ordered)
    assert usage["safety"]["calls"] == 2 * 1  # 6 samples: one call of 6 per study
    assert usage["total"]["calls"] == usage["runs"]["calls"] + usage["transfer"]["calls"] + usage["safety"]["calls"]
    assert sum(record["strategies"].values()) >= 1
    hacking = record["safety"]["reward_hacking"]
    asked = sum(1 for s in ordered for line in (Path(s["run_dir"]) / "events.jsonl").read_text().splitlines()
                if (e := json.loads(line))["kind"] == "utility_call" and not e.get("cached"))
    assert hacking["evaluations"] == asked > 0
    assert all(0 <= r["low"] <= r["rate"] <= r["high"] <= 1 for r in hacking["rates"].values())
    page = (out / "report.md").read_text()
    assert "Table 1" in page and "parity\\_noiseless" in page and (out / "report.html").is_file()
    _, err = study(capsys, *TINY, "--out", str(out), status=2)
    assert "holds a study already" in err


def test_a_stopped_study_resumes_reusing_what_finished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "study"
    real = _transfer.transfer

    def ctrl_c(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(_transfer, "transfer", ctrl_c)
    assert main(["reproduce", *TINY, "--out", str(out)]) == 130
    stopped = json.loads((out / "reproduce.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["transfer"] is None and len(stopped["runs"]) == 2
    runs_before = sorted(p.name for p in (out / "runs").iterdir())
    monkeypatch.setattr(_transfer, "transfer", real)
    record, err = study(capsys, "--resume", str(out))
    assert record["complete"] and sorted(p.name for p in (out / "runs").iterdir()) == runs_before
    assert record["curve"] == stopped["curve"] and record["transfer"]["rows"][0]["seeds"] == 2
    _, err = study(capsys, "--resume", str(tmp_path / "nothing"), status=2)
    assert "holds no reproduce study" in err


def test_bad_study_settings_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, err = study(capsys, "--seeds", "0", "--out", str(tmp_path / "s"), status=2)
    assert "--seeds must be an integer from 1 to 100" in err
    _, err = study(capsys, "--sandbox-samples", "0", "--out", str(tmp_path / "s"), status=2)
    assert "--sandbox-samples must be a positive integer" in err
    assert not (tmp_path / "s").exists()
