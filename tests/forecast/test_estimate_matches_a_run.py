"""Checked, not assumed: a small study's estimate against what the same study records when it really runs.

Where the seed improver's code fixes them (I_0's measurement, the first step, which I_0 makes), the estimate's LM
calls, requests and samples equal the run's `lm_call` events; everywhere, the recorded totals fall inside low..high.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openai_server import FakeOpenAIServer
from selftaught.cli import main
from selftaught.config import build_config
from selftaught.forecast import Estimate, ItemEstimate, Range, estimate_run
from selftaught.improver import seed_improver
from selftaught.lm import CompletionRequest, MutateBackend
from selftaught.store import program_hash

# A T=1 study small enough for a few seconds; budgets chosen so that min(max_responses, utility budget) differ
# between the levels (I_0 asks 2 samples downstream, 3 at the meta level).
BUDGETS = {"iterations": 1, "downstream_runs": 2, "max_responses_per_call": 3, "utility_budget": 2, "lm_budget": 2,
           "meta_utility_budget": 4, "task": "parity_noise"}
FLAGS = ["--iterations", "1", "--downstream-runs", "2", "--max-responses", "3", "--utility-budget", "2",
         "--lm-budget", "2", "--meta-utility-budget", "4", "--task", "parity_noise"]
COUNTS = ("calls", "requests", "samples")


def lm_calls(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("kind") == "lm_call"]


def recorded(calls: list[dict[str, Any]]) -> dict[str, int]:
    return {"calls": len(calls), "requests": sum(c["requests"] for c in calls),
            "samples": sum(len(c["samples"]) for c in calls), "input_tokens": sum(c["input_tokens"] for c in calls),
            "output_tokens": sum(c["output_tokens"] for c in calls)}


def item(estimate: Estimate, name: str) -> ItemEstimate:
    (found,) = [i for part in estimate.parts for i in part.items if i.name == name]
    return found


def inside(value: int, bounds: Range) -> bool:
    return bounds.low <= value <= bounds.high


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], Path]:
    status = main(["run", *argv, "--json"])
    out = capsys.readouterr().out
    assert status == 0, out
    summary = json.loads(out)
    return summary, Path(summary["run_dir"])


def check_fixed_parts(estimate: Estimate, calls: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The parts I_0's code fixes: the estimate's calls and samples are the recorded ones, and so are its expected
    requests (high counts a request per sample, for a server that ignores `n`: the server's doing, not the code's)."""
    i0 = program_hash(seed_improver())
    parts = {"I_0 measured (val and test)": [c for c in calls if c["stream"].startswith(f"measure/{i0}/")],
             "step 1: I_0 improves itself": [c for c in calls if c["stream"] == "stop/1"]}
    seen = {}
    for name, mine in parts.items():
        figures, got = item(estimate, name).figures, recorded(mine)
        assert item(estimate, name).fixed and got["calls"] > 0
        for key in ("calls", "samples"):
            bounds = getattr(figures, key)
            assert bounds.low == bounds.expected == bounds.high == got[key], (name, key, bounds, got)
        assert figures.requests.expected == got["requests"] and inside(got["requests"], figures.requests)
        seen[name] = got
    return seen


def check_totals(estimate: Estimate, usage: dict[str, Any], calls: list[dict[str, Any]]) -> None:
    got = recorded(calls)
    assert usage["calls"] == got["calls"] and usage["input_tokens"] == got["input_tokens"]
    for key in (*COUNTS, "input_tokens", "output_tokens"):
        assert inside(got[key], getattr(estimate.total, key)), (key, got[key], getattr(estimate.total, key))


def test_an_offline_study_records_what_its_estimate_says(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    estimate = estimate_run(build_config(BUDGETS))
    summary, run_dir = run(capsys, *FLAGS, "--runs-dir", str(tmp_path))
    calls = lm_calls(run_dir)
    fixed = check_fixed_parts(estimate, calls)
    assert fixed["I_0 measured (val and test)"]["samples"] == 2 * 2  # 2 runs of min(3, utility budget 2) samples
    assert fixed["step 1: I_0 improves itself"]["samples"] == 3  # min(3, meta-utility budget 4)
    for name, got in fixed.items():  # the offline backend's own token count: the prompts are the ones sent
        figures = item(estimate, name).figures
        assert figures.input_tokens.low == got["input_tokens"] == figures.input_tokens.high
        assert inside(got["output_tokens"], figures.output_tokens)
    check_totals(estimate, summary["usage"], calls)
    assert estimate.usd is not None and estimate.usd.high == 0 and summary["usage"]["cost_usd"] == 0


def mutating_reply(body: dict[str, Any], index: int) -> str:
    """A server whose model answers as the offline mutate backend would: replies as long as real rewrites."""
    system, user = (m["content"] for m in body["messages"])
    return MutateBackend().complete(CompletionRequest(system, user, float(body.get("temperature", 0.7)), 1,
                                                      index))[0]


def test_a_priced_study_through_a_server_sends_the_requests_its_estimate_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same study on an OpenAI-compatible server (it takes `n`): one request per call, tokens counted by the
    server (not by the estimate's fallback counter) inside low..high."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = tmp_path / "priced.toml"
    config.write_text('[prices]\n"test-model" = { input = 1.0, output = 2.0 }\n')
    with FakeOpenAIServer(mutating_reply, api_key="test-key") as server:
        spec = ["--lm", "openai:test-model", "--base-url", server.url, "--cache", "off", "--config", str(config)]
        estimate = estimate_run(build_config({**BUDGETS, "lm": "openai:test-model", "cache": "off"}, str(config)))
        assert estimate.priced and estimate.usd is not None
        summary, run_dir = run(capsys, *FLAGS, *spec, "--runs-dir", str(tmp_path / "runs"), "--yes")
        sent = server.request_count
    calls = lm_calls(run_dir)
    fixed = check_fixed_parts(estimate, calls)
    assert fixed["I_0 measured (val and test)"]["requests"] == 2  # one request of n samples per call
    for name, got in fixed.items():
        assert inside(got["input_tokens"], item(estimate, name).figures.input_tokens)
    check_totals(estimate, summary["usage"], calls)
    assert sent == summary["usage"]["requests"]
    assert inside(summary["usage"]["cost_usd"], estimate.usd)
