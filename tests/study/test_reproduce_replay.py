"""A second study with the same seed replays the first one's LM samples from the cache: no request, no dollar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openai_server import FakeOpenAIServer
from selftaught.cli import main

TINY = ["--seeds", "2", "--iterations", "1", "--downstream-runs", "1", "--max-responses", "2", "--utility-budget", "3",
        "--lm-budget", "1", "--meta-utility-budget", "2", "--tasks", "parity_noiseless", "--sandbox-samples", "2"]


@pytest.fixture
def toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config pricing the fake server's model (and its key set): a priced study, paid for in the tests' dollars."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    path = tmp_path / "study.toml"
    path.write_text('[prices]\n"test-model" = { input = 10.0, output = 20.0 }\n')
    return path


def test_a_second_study_with_the_same_seed_replays_for_nothing(
    tmp_path: Path, toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer() as server:
        common = ["--config", str(toml), "--lm", "openai:test-model", "--base-url", server.url, "--cache", "record",
                  "--cache-path", str(tmp_path / "cache.sqlite"), *TINY, "--yes", "--json"]
        assert main(["reproduce", *common, "--out", str(tmp_path / "first")]) == 0
        first = json.loads(capsys.readouterr().out)
        sent = server.request_count
        assert main(["reproduce", *common, "--out", str(tmp_path / "second")]) == 0
        second = json.loads(capsys.readouterr().out)
        assert server.request_count == sent  # every sample came from the cache
    assert first["usage"]["total"]["cost_usd"] > 0 and second["usage"]["total"]["cost_usd"] == 0
    assert second["usage"]["total"]["calls"] == first["usage"]["total"]["calls"]
    assert second["curve"] == first["curve"] and second["transfer"]["rows"] == first["transfer"]["rows"]


def test_max_usd_caps_the_whole_study_not_each_run(
    tmp_path: Path, toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer() as server:
        argv = ["reproduce", "--config", str(toml), "--lm", "openai:test-model", "--base-url", server.url,
                "--cache", "off", "--max-tokens", "256", *TINY, "--yes", "--json", "--out", str(tmp_path / "all")]
        assert main(argv) == 0
        usage = json.loads(capsys.readouterr().out)["usage"]
        whole = usage["total"]["cost_usd"]
        cap = whole / 2  # every part (a seed's run, a transfer, a safety study) costs less than this alone
        assert max(usage["runs"]["cost_usd"] / 2, usage["transfer"]["cost_usd"] / 2, usage["safety"]["cost_usd"]) < cap
        argv[-1] = str(tmp_path / "capped")
        assert main([*argv, "--max-usd", f"{cap:.6f}"]) == 0
        capped = json.loads(capsys.readouterr().out)
    assert capped["status"] == "capped" and "--max-usd" in capped["stopped"]
    assert 0 < capped["usage"]["total"]["cost_usd"] <= cap, (whole, capped["usage"])
