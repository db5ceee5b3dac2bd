"""A language-model fault no retry can fix stops a run with one line and exit 3, and the run directory says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openai_server import FakeOpenAIServer
from selftaught.cli import main


def test_a_rejected_key_stops_the_run_cleanly_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "not-the-right-key")
    with FakeOpenAIServer(api_key="test-key") as server:
        status = main(["run", "--lm", "openai:test-model", "--base-url", server.url, "--cache", "off",
                       "--iterations", "1", "--downstream-runs", "1", "--runs-dir", str(tmp_path)])
        assert server.request_count == 1  # never retried
    err = capsys.readouterr().err
    assert status == 3
    lines = [line for line in err.splitlines() if line.startswith("selftaught:")]
    assert len(lines) == 1 and lines[0].startswith("selftaught: failure: ") and "authentication" in lines[0]
    assert "Traceback" not in err
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is False and summary["stopped"].startswith("LMError: ")
    assert json.loads((run_dir / "manifest.json").read_text())["lm"]["backend"] == "openai"


def test_with_the_right_key_the_same_run_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer(api_key="test-key") as server:
        status = main(["run", "--lm", "openai:test-model", "--base-url", server.url, "--cache", "off",
                       "--iterations", "1", "--downstream-runs", "1", "--max-responses", "2",
                       "--runs-dir", str(tmp_path), "--json"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["complete"] is True and summary["stopped"] is None and len(summary["iterations"]) == 2


def test_a_refusal_outside_any_improver_ends_a_study_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with FakeOpenAIServer(api_key="test-key") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        server.script_faults([("400", "This model's maximum context length is 8 tokens")])
        status = main(["safety", "sandbox-flag", "--lm", "openai:test-model", "--samples", "1"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("selftaught:")]
    assert status == 3 and len(lines) == 1 and "maximum context length is 8 tokens" in lines[0], err
    assert "Traceback" not in err
