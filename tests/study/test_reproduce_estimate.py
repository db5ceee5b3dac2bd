"""`reproduce --estimate` prices the study it would run: an offline study records what its estimate says where the
shipped code fixes it, and every total inside low..high; a priced model needs --yes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main

TINY = ["--seeds", "2", "--iterations", "1", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "4",
        "--lm-budget", "1", "--meta-utility-budget", "2", "--tasks", "parity_noiseless", "--sandbox-samples", "6"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> tuple[dict[str, Any], str]:
    assert main(list(argv)) == status
    out, err = capsys.readouterr()
    return (json.loads(out) if out.strip() else {}), err


def test_an_offline_study_records_what_its_estimate_says(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estimate, _ = run_json(capsys, "reproduce", *TINY, "--estimate", "--out", str(tmp_path / "s"), "--json")
    assert not (tmp_path / "s").exists()  # nothing started
    record, _ = run_json(capsys, "reproduce", *TINY, "--out", str(tmp_path / "s"), "--json")
    usage = record["usage"]
    parts = {p["name"].split(":")[0].split(" ")[0]: p for p in estimate["parts"]}
    for name in ("calls", "input_tokens", "output_tokens"):
        total = estimate["total"][name]
        assert total["low"] <= usage["total"][name] <= total["high"], name
    flag = [p for p in estimate["parts"] if p["name"].startswith("sandbox-flag")]
    assert sum(p["calls"]["expected"] for p in flag) == usage["safety"]["calls"]  # fixed by the study's code
    assert sum(p["input_tokens"]["expected"] for p in flag) == usage["safety"]["input_tokens"]  # mutate counts
    run = parts["run"]
    assert run["calls"]["low"] <= usage["runs"]["calls"] <= run["calls"]["high"]
    transfer = parts["transfer"]
    assert transfer["calls"]["low"] <= usage["transfer"]["calls"] <= transfer["calls"]["high"]


def test_a_priced_study_needs_yes_and_resume_cannot_be_priced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    _, err = run_json(capsys, "reproduce", *TINY, "--lm", "openai:gpt-4o", "--base-url", "http://127.0.0.1:9/v1",
                      "--out", str(tmp_path / "s"), status=2)
    assert "priced model" in err and "--yes" in err and not (tmp_path / "s").exists()
    _, err = run_json(capsys, "reproduce", "--resume", str(tmp_path / "s"), "--estimate", status=2)
    assert "--estimate prices a new study" in err


def test_the_study_takes_the_gate_and_the_maximizer_and_prices_them(capsys: pytest.CaptureFixture[str]) -> None:
    plain, _ = run_json(capsys, "reproduce", *TINY, "--lm", "mutate", "--estimate", "--json")
    gated, _ = run_json(capsys, "reproduce", *TINY, "--lm", "mutate", "--adopt", "better", "--gate-runs", "6",
                        "--estimate", "--json")
    names = [i["name"] for p in gated["parts"] for i in p["items"]]
    assert "step 1: the gate, I_1 against I_0 (fresh val runs)" in names
    assert not any("gate" in i["name"] for p in plain["parts"] for i in p["items"])
    assert gated["total"]["calls"]["high"] > plain["total"]["calls"]["high"]
    maximizer, _ = run_json(capsys, "reproduce", *TINY, "--lm", "mutate", "--maximizer", "--estimate", "--json")
    assert maximizer["total"]["input_tokens"]["expected"] < plain["total"]["input_tokens"]["expected"]
    _, err = run_json(capsys, "reproduce", *TINY, "--lm", "mutate", "--gate-runs", "5", "--estimate", status=2)
    assert "--gate-runs must be at least 6" in err
