"""The openai provider over real HTTP to a local OpenAI-compatible server: requests, usage, faults, cache."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from openai_server import FakeOpenAIServer, count_tokens
from selftaught.broker import Services
from selftaught.config import Config
from selftaught.errors import LMError, RunLimitReached, UserError
from selftaught.lm import parse_backend
from selftaught.lm._base import CompletionRequest
from selftaught.lm.cache import CacheMiss
from selftaught.lm.session import LanguageModel

PRICES = {"test-model": {"input": 1000.0, "output": 2000.0}}  # dollars per 1M tokens: big, to see cents


def config(server: FakeOpenAIServer, tmp_path: Path, **kw: Any) -> Config:
    base: dict[str, Any] = {"lm": "openai:test-model", "base_url": server.url, "cache": "off",
                            "cache_path": str(tmp_path / "cache.sqlite"), "max_retries": 3,
                            "request_timeout": 5.0, "prices": PRICES}
    return Config(**{**base, **kw})


def session(cfg: Config, **kw: Any) -> tuple[Services, LanguageModel]:
    services = Services(cfg, parse_backend(cfg.lm, cfg), sandbox=None)
    return services, services.language_model(kw.pop("stream", "s"), level=kw.pop("level", "task"))


def test_requests_carry_system_prompt_temperature_n_model_and_max_tokens(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    _, lm = session(config(server, tmp_path, max_tokens=321))
    replies = lm.batch_prompt("You are an expert.", ["Improve this."] * 3, temperature=0.3)
    assert len(replies) == 3 and len(set(replies)) == 3
    (request,) = server.requests
    body = request["body"]
    assert body["model"] == "test-model" and body["n"] == 3 and body["temperature"] == 0.3
    assert body["max_tokens"] == 321
    assert body["messages"] == [{"role": "system", "content": "You are an expert."},
                                {"role": "user", "content": "Improve this."}]
    assert request["headers"]["authorization"] == "Bearer test-key"


def test_usage_and_cost_are_accounted_from_the_servers_usage(server: FakeOpenAIServer, tmp_path: Path) -> None:
    services, lm = session(config(server, tmp_path))
    replies = lm.prompt("sys", "hello there", n_responses=2)
    prompt_tokens = count_tokens("sys") + count_tokens("hello there")
    completion_tokens = sum(count_tokens(r) for r in replies)
    usage = services.usage.report()
    assert usage["calls"] == 1 and usage["requests"] == 1
    assert usage["input_tokens"] == prompt_tokens and usage["output_tokens"] == completion_tokens
    expected = (prompt_tokens * 1000.0 + completion_tokens * 2000.0) / 1e6
    assert usage["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert usage["by_level"]["task"]["cost_usd"] == pytest.approx(expected, abs=1e-6)


def test_a_server_without_n_gets_parallel_requests_and_a_batch_is_sent_concurrently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer(supports_n=False, delay=0.3) as srv:
        _, lm = session(config(srv, tmp_path))
        started = time.monotonic()
        assert len(lm.prompt("s", "one message", n_responses=4)) == 4
        assert srv.request_count == 4  # one asking for n=4 (answered with 1), then 3 in parallel
        assert srv.max_in_flight >= 2
        lm.prompt("s", "another message", n_responses=2)
        assert srv.request_count == 6  # now known to ignore n: two single requests, no wasted n=2
        assert len(lm.batch_prompt("s", ["a", "b", "c", "d"])) == 4
        assert time.monotonic() - started < 0.3 * 10 * 0.8  # overlapping, not one after another


def test_429_is_retried_after_the_servers_retry_after(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script_faults([("429", 0.4)])
    _, lm = session(config(server, tmp_path))
    started = time.monotonic()
    assert len(lm.prompt("s", "m")) == 1
    assert time.monotonic() - started >= 0.4
    assert [r["fault"] for r in server.requests][:1] == [("429", 0.4)] and server.request_count == 2


@pytest.mark.parametrize("fault", [("500",), ("503",), ("malformed",), ("drop",)])
def test_server_errors_and_malformed_replies_are_retried(
    server: FakeOpenAIServer, tmp_path: Path, fault: tuple[Any, ...]
) -> None:
    server.script_faults([fault, fault])
    _, lm = session(config(server, tmp_path))
    assert len(lm.prompt("s", "m")) == 1
    assert server.request_count == 3


def test_a_timeout_is_retried(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script_faults([("slow", 3.0)])
    _, lm = session(config(server, tmp_path, request_timeout=1.0))
    assert len(lm.prompt("s", "m")) == 1 and server.request_count == 2


def test_retries_stop_at_the_cap_with_a_clear_error(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script_faults([("500",)] * 5)
    _, lm = session(config(server, tmp_path, max_retries=2))
    with pytest.raises(LMError, match="gave up after 3 attempts") as info:
        lm.prompt("s", "m")
    assert info.value.retryable is True and server.request_count == 3


def test_authentication_errors_are_fatal_and_never_retried(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
    _, lm = session(config(server, tmp_path))
    with pytest.raises(LMError, match="authentication") as info:
        lm.prompt("s", "m")
    assert info.value.retryable is False and server.request_count == 1
    assert "wrong-key" not in str(info.value)  # keys never end up in messages


def test_record_then_replay_with_the_server_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer() as srv:
        recorded_cfg = config(srv, tmp_path, cache="record")
        _, lm = session(recorded_cfg, stream="run/1")
        first = lm.batch_prompt("s", ["x", "x", "y"])
        again = session(recorded_cfg, stream="run/1")[1].batch_prompt("s", ["x", "x", "y"])
        assert again == first and srv.request_count == 2  # the second session was served from the cache
    monkeypatch.delenv("OPENAI_API_KEY")  # an offline machine with no key
    replay_cfg = Config(**{**recorded_cfg.__dict__, "cache": "replay", "base_url": "http://127.0.0.1:9/v1"})
    replay_services, replay_lm = session(replay_cfg, stream="run/1")
    assert replay_lm.batch_prompt("s", ["x", "x", "y"]) == first
    assert replay_services.usage.report()["cache_hits"] == 3
    with pytest.raises(CacheMiss, match="sample 2"):
        replay_lm.prompt("s", "x")  # a third sample of "x" was never recorded
    assert isinstance(CacheMiss(provider="p", model="m", system="s", message="x", sample=0), UserError)


def test_the_cache_key_includes_model_and_system_prompt(server: FakeOpenAIServer, tmp_path: Path) -> None:
    cfg = config(server, tmp_path, cache="record")
    backend = parse_backend(cfg.lm, cfg)
    request = CompletionRequest("system A", "msg", 0.7, 1, 0, 1)
    backend.generate(request)
    backend.generate(CompletionRequest("system B", "msg", 0.7, 1, 0, 1))
    other = parse_backend("openai:other-model", cfg)
    other.generate(request)
    assert server.request_count == 3
    backend.generate(request)
    assert server.request_count == 3


def test_a_reply_cut_off_by_the_token_limit_is_a_failed_candidate_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    cut = "Here is the idea.\n```python\ndef algorithm(train_samples, train_parity, test_samples):\n    return ["
    with FakeOpenAIServer(reply=lambda body, i: cut, finish_reason="length") as srv:
        from selftaught.broker import TaskUtility, run_improver
        from selftaught.improver import seed_improver
        from selftaught.tasks import get_task

        cfg = config(srv, tmp_path, downstream_runs=1)
        services, lm = session(cfg)
        task = get_task("parity_noiseless")
        utility = TaskUtility(services, task, "val", 25)
        result = run_improver(services, seed_improver(), task.seed_solution, utility, lm)
        assert result.failure is None and result.solution is not None  # the seed improver returned a sample
        assert services.evaluate(task, result.solution, "val").failure == "syntax"


def filling_reply(body: dict[str, Any], index: int) -> str:
    """A model that writes as long as it may: a program padded to exactly `max_tokens` fake tokens."""
    head = f"```python\ndef algorithm(*args):\n    return {index}\n# "
    tail = "\n```"
    length = 4 * (int(body["max_tokens"]) - 1)  # count_tokens(text) == len(text) // 4 + 1
    return head + "x" * max(0, length - len(head) - len(tail)) + tail


def test_the_max_usd_cap_stops_a_run_cleanly_before_a_huge_completion_overshoots_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from selftaught.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    toml = tmp_path / "run.toml"
    toml.write_text('[prices]\n"test-model" = { input = 10.0, output = 20.0 }\n')
    with FakeOpenAIServer(reply=filling_reply) as srv:  # six replies of 100000 tokens would cost $12
        status = main(["run", "--config", str(toml), "--lm", "openai:test-model", "--base-url", srv.url,
                       "--cache", "off", "--max-usd", "0.5", "--max-tokens", "100000", "--iterations", "2",
                       "--downstream-runs", "1", "--runs-dir", str(tmp_path / "runs"), "--json",
                       "--yes"])  # a priced model: started without asking
        sent = [r["body"]["max_tokens"] for r in srv.requests]
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["stopped"] and "--max-usd 0.5 reached" in out["stopped"] and out["complete"] is False
    assert 0.4 < out["usage"]["cost_usd"] <= 0.5  # most of the cap used, none of it overshot
    assert sent and all(limit < 100000 for limit in sent)  # every request's max_tokens was lowered to fit
    saved = json.loads((Path(out["run_dir"]) / "summary.json").read_text())
    assert saved["stopped"] == out["stopped"] and saved["usage"]["calls"] == out["usage"]["calls"]


def test_max_calls_is_enforced_in_the_orchestrator(server: FakeOpenAIServer, tmp_path: Path) -> None:
    services, lm = session(config(server, tmp_path, max_calls=2))
    other = services.language_model("other", level="task")
    lm.prompt("s", "a")
    other.prompt("s", "b")
    with pytest.raises(RunLimitReached, match="--max-calls 2"):
        lm.prompt("s", "c")
    assert server.request_count == 2


def test_a_finished_run_replays_offline_from_its_own_cache_with_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from selftaught.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    solver = (Path(__file__).resolve().parent.parent / "data" / "parity_solver.py").read_text()

    def reply(body: dict[str, Any], index: int) -> str:  # varies per call, like a sampling model
        if "def improve_algorithm" in body["messages"][-1]["content"] and index % 2:
            return "```python\ndef improve_algorithm(s, u, lm):\n    return s\n```"
        return f"```python\n{solver}\n# variant {time.monotonic_ns()}\n```"

    argv = ["run", "--lm", "openai:test-model", "--iterations", "1", "--downstream-runs", "1",
            "--max-responses", "2", "--task", "parity_noiseless", "--json"]
    with FakeOpenAIServer(reply=reply) as srv:
        assert main([*argv, "--base-url", srv.url, "--cache-path", str(tmp_path / "shared.sqlite"),
                     "--runs-dir", str(tmp_path / "a")]) == 0
        live = json.loads(capsys.readouterr().out)
        assert srv.request_count > 0
    shipped = Path(live["run_dir"]) / "lm-cache.sqlite"
    assert shipped.exists() and live["lm_cache"]["samples"] > 0
    monkeypatch.delenv("OPENAI_API_KEY")
    assert main([*argv, "--base-url", "http://127.0.0.1:9/v1", "--cache", "replay", "--cache-path", str(shipped),
                 "--runs-dir", str(tmp_path / "b")]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["iterations"] == live["iterations"]
    assert replayed["usage"]["requests"] == 0 and replayed["usage"]["calls"] == live["usage"]["calls"]
    assert replayed["usage"]["cache_hits"] > 0 and replayed["usage"]["cost_usd"] == 0


def test_a_configured_temperature_overrides_the_improvers(server: FakeOpenAIServer, tmp_path: Path) -> None:
    _, lm = session(config(server, tmp_path, temperature=0.0))
    lm.prompt("s", "m", temperature=0.9)
    assert server.requests[0]["body"]["temperature"] == 0.0


def test_tokens_are_estimated_when_the_server_reports_no_usage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer(usage=False) as srv:
        backend = parse_backend("openai:test-model", config(srv, tmp_path))
        result = backend.generate(CompletionRequest("system prompt", "a message of some length", 0.5, 2))
    assert result.estimated is True and result.estimate_reason == "no usage reported"
    assert result.input_tokens > 0 and result.output_tokens >= sum(len(r) // 4 for r in result.replies)
