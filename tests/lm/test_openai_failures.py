"""The openai provider's failures, over real HTTP to the fake server: refused, fatal, malformed, n caps, usage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openai_server import FakeOpenAIServer, count_tokens
from selftaught.broker import Services
from selftaught.config import Config
from selftaught.errors import InfrastructureError, LMError, LMRefused
from selftaught.lm import Backend, parse_backend
from selftaught.lm._base import CompletionRequest
from selftaught.lm._retry import RetryPolicy
from selftaught.lm.openai_backend import OpenAIBackend
from selftaught.lm.session import LanguageModel
from selftaught.lm.usage import UsageMeter

CONTEXT = "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens."


def config(server: FakeOpenAIServer, tmp_path: Path, **kw: Any) -> Config:
    base: dict[str, Any] = {"lm": "openai:test-model", "base_url": server.url, "cache": "off",
                            "cache_path": str(tmp_path / "cache.sqlite"), "max_retries": 2,
                            "request_timeout": 5.0}
    return Config(**{**base, **kw})


def quick(backend: Backend) -> Backend:
    """The backend with short backoffs (their growth is tested in test_retry), so retry tests stay fast."""
    inner = getattr(backend, "inner", backend)  # under the record cache
    inner.policy = RetryPolicy(max_retries=inner.policy.max_retries, base_delay=0.01)
    return backend


def session(cfg: Config) -> tuple[Services, LanguageModel]:
    services = Services(cfg, quick(parse_backend(cfg.lm, cfg)), sandbox=None)
    return services, services.language_model("s", level="task")


def openai_backend(server: FakeOpenAIServer, tmp_path: Path, **kw: Any) -> OpenAIBackend:
    backend = quick(parse_backend("openai:test-model", config(server, tmp_path, **kw)))
    assert isinstance(backend, OpenAIBackend)
    return backend


def numbered(counter: Iterator[int] | None = None) -> Any:
    """A reply function whose every reply is distinct: "sample 0", "sample 1", ..."""
    count = counter or itertools.count()
    return lambda body, index: f"sample {next(count)}"


# ---- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, CONTEXT), (413, "Request Entity Too Large"), (422, "Unprocessable Entity: messages[0] is invalid")],
)
def test_a_refused_request_raises_lmrefused_with_the_providers_message_and_the_run_goes_on(
    server: FakeOpenAIServer, tmp_path: Path, status: int, message: str
) -> None:
    server.script_faults([("error", status, message)])
    services, lm = session(config(server, tmp_path))
    with pytest.raises(LMRefused) as info:
        lm.prompt("s", "a message too long")
    assert info.value.status == status and message in str(info.value)
    assert not isinstance(info.value, InfrastructureError)
    assert server.request_count == 1  # never retried
    assert len(lm.prompt("s", "a shorter message")) == 1  # positive control: the next call is answered
    usage = services.usage.report()
    assert usage["calls"] == 2 and usage["refused_calls"] == 1 and lm.times_used == 2


def test_a_refused_call_is_recorded_with_its_error_and_no_replies_or_tokens(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.script_faults([("400", CONTEXT)])
    seen: list[dict[str, Any]] = []
    cfg = config(server, tmp_path)
    lm = LanguageModel(parse_backend(cfg.lm, cfg), budget=2, max_responses_per_call=4, on_call=seen.append)
    with pytest.raises(LMRefused):
        lm.prompt("s", "m", n_responses=2)
    (record,) = seen
    assert record["refused"] is True and CONTEXT in record["error"] and "HTTP 400" in record["error"]
    assert record["replies"] == [] and record["input_tokens"] == 0 and record["output_tokens"] == 0
    assert lm.times_used == 1 and lm.responses == 0
    lm.prompt("s", "m")
    assert seen[1]["refused"] is False and seen[1]["error"] is None and len(seen[1]["replies"]) == 1


def test_a_batch_with_one_refused_message_is_refused_and_counts_the_answered_ones_tokens(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.script_faults([("400", CONTEXT)])  # whichever of the two requests arrives first
    services, lm = session(config(server, tmp_path))
    with pytest.raises(LMRefused, match="maximum context length"):
        lm.batch_prompt("sys", ["message A", "message B"])
    assert server.request_count == 2
    answered = next(r for r in server.requests if r["status"] == 200)
    reply_tokens = count_tokens(f"```python\n# reply 0 to: {answered['body']['messages'][-1]['content']}"
                                "\ndef algorithm(*args):\n    return 0\n```")
    usage = services.usage.report()
    assert (usage["calls"], usage["refused_calls"], usage["requests"]) == (1, 1, 1)
    assert usage["input_tokens"] == count_tokens("sys") + count_tokens("message A")
    assert usage["output_tokens"] == reply_tokens


def test_a_recorded_refusal_replays_as_the_same_refusal_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer() as srv:
        cfg = config(srv, tmp_path, cache="record")
        srv.script_faults([("400", CONTEXT)])
        _, lm = session(cfg)
        with pytest.raises(LMRefused) as recorded:
            lm.prompt("s", "m", n_responses=2)
        again = lm.prompt("s", "m")  # sample 2: past the refused samples 0 and 1
        assert srv.request_count == 2
    monkeypatch.delenv("OPENAI_API_KEY")
    replay = Config(**{**cfg.__dict__, "cache": "replay", "base_url": "http://127.0.0.1:9/v1"})
    _, replayed = session(replay)
    with pytest.raises(LMRefused) as info:
        replayed.prompt("s", "m", n_responses=2)
    assert str(info.value) == str(recorded.value) and info.value.status == 400
    assert replayed.prompt("s", "m") == again


# ---- fatal --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        (("quota",), "quota or credit exhausted (HTTP 429: You exceeded your current quota"),
        (("error", 403, "Project does not have access to model test-model"), "authentication failed (HTTP 403"),
        (("error", 404, "The model `test-model` does not exist", "model_not_found"), "check the model name"),
    ],
)
def test_quota_forbidden_and_unknown_model_are_fatal_at_once_in_one_line(
    server: FakeOpenAIServer, tmp_path: Path, fault: tuple[Any, ...], needle: str
) -> None:
    server.script_faults([fault, fault])
    _, lm = session(config(server, tmp_path))
    with pytest.raises(LMError) as info:
        lm.prompt("s", "m")
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert info.value.retryable is False and server.request_count == 1


def test_a_server_failing_after_every_retry_is_fatal(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script_faults([("503",)] * 3)
    _, lm = session(config(server, tmp_path))
    with pytest.raises(LMError, match=r"^openai:test-model: gave up after 3 attempts: HTTP 503: The engine"):
        lm.prompt("s", "m")
    assert server.request_count == 3


# ---- a 200 that is not a completion -------------------------------------------------------------------

MALFORMED = [
    (("html",), "a body that is not a completion: '<html><head><title>502 Bad Gateway"),
    (("malformed", ""), "malformed reply (not JSON"),
    (("malformed", '{"id": "chatcmpl-1", "choices": [{"index": 0, "mess'), "malformed reply (not JSON"),
    (("json", {"id": "chatcmpl-1", "object": "chat.completion"}), "a completion with no choices"),
    (("json", {"id": "chatcmpl-1", "choices": []}), "a completion with no choices"),
    (("json", {"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": "stop"}]}), "a choice without a message"),
]


@pytest.mark.parametrize(("fault", "needle"), MALFORMED)
def test_a_200_that_is_not_a_completion_is_retried(
    server: FakeOpenAIServer, tmp_path: Path, fault: tuple[Any, ...], needle: str
) -> None:
    server.script_faults([fault, fault])
    _, lm = session(config(server, tmp_path))
    assert lm.prompt("s", "m") == ["```python\n# reply 0 to: m\ndef algorithm(*args):\n    return 0\n```"]
    assert server.request_count == 3


@pytest.mark.parametrize(("fault", "needle"), MALFORMED)
def test_a_200_that_is_never_a_completion_is_fatal_with_a_clear_line(
    server: FakeOpenAIServer, tmp_path: Path, fault: tuple[Any, ...], needle: str
) -> None:
    server.script_faults([fault] * 3)
    _, lm = session(config(server, tmp_path))
    with pytest.raises(LMError, match="gave up after 3 attempts") as info:
        lm.prompt("s", "m")
    assert needle in str(info.value) and "\n" not in str(info.value) and info.value.retryable is True
    assert server.request_count == 3


# ---- a server that caps n -----------------------------------------------------------------------------


def test_llama_cpps_refusal_of_n_is_split_into_requests_within_its_cap_and_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer(reply=numbered(), max_n=4, delay=0.2) as srv:
        backend = openai_backend(srv, tmp_path)
        result = backend.generate(CompletionRequest("s", "m", 0.7, 6))
        assert len(set(result.replies)) == 6 and result.requests == 3
        asked = [r["body"].get("n", 1) for r in srv.requests]
        assert asked[0] == 6 and sorted(asked[1:]) == [2, 4] and srv.requests[0]["status"] == 400
        assert srv.max_in_flight == 2 and backend.max_n == 4  # the two requests went out together
        srv.reset()
        assert len(set(backend.generate(CompletionRequest("s", "m", 0.7, 6, 6)).replies)) == 6
        assert sorted(r["body"].get("n", 1) for r in srv.requests) == [2, 4]  # no 400 first this time
        assert {r["status"] for r in srv.requests} == {200}


@pytest.mark.parametrize(
    ("message", "max_n", "sizes"),
    [
        ("Invalid 'n': integer above maximum value. Expected a value <= {max_n}, but got 5 instead.", 2, [1, 2, 2]),
        ("n must be 1 when using greedy sampling, got 5.", 1, [1, 1, 1, 1, 1]),  # vLLM's wording
        ("n > 1 is not supported by this server", 1, [1, 1, 1, 1, 1]),  # no cap stated: one per sample
    ],
)
def test_other_wordings_of_a_refused_n_get_the_samples_in_accepted_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, message: str, max_n: int, sizes: list[int]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer(reply=numbered(), max_n=max_n, n_refusal=message) as srv:
        result = openai_backend(srv, tmp_path).generate(CompletionRequest("s", "m", 0.7, 5))
        assert len(set(result.replies)) == 5
        assert [r["status"] for r in srv.requests].count(400) == 1
        assert sorted(r["body"].get("n", 1) for r in srv.requests if r["status"] == 200) == sizes


def test_a_refusal_of_a_request_for_several_samples_not_about_n_is_an_ordinary_refusal(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.script_faults([("400", CONTEXT)])
    backend = openai_backend(server, tmp_path)
    with pytest.raises(LMRefused, match="maximum context length"):
        backend.generate(CompletionRequest("s", "m", 0.7, 3))
    assert server.request_count == 1 and backend.max_n is None
    assert len(backend.generate(CompletionRequest("s", "m", 0.7, 3)).replies) == 3  # still one request for 3
    assert server.request_count == 2


def test_the_n_cap_holds_through_a_session_and_the_record_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer(reply=numbered(), max_n=4) as srv:
        services, lm = session(config(srv, tmp_path, cache="record", max_responses_per_call=6))
        replies = lm.prompt("s", "m", n_responses=6)
        assert len(set(replies)) == 6 and srv.request_count == 3
        usage = services.usage.report()
        assert usage["calls"] == 1 and usage["requests"] == 3 and usage["refused_calls"] == 0


# ---- implausible usage --------------------------------------------------------------------------------


def test_llama_cpps_usage_of_one_choice_for_several_is_estimated_and_counted_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    reply = lambda body, index: "x" * (200 + 40 * index)  # noqa: E731 - 51, 61 and 71 tokens
    meter = UsageMeter({})
    seen: list[dict[str, Any]] = []

    def on_call(record: dict[str, Any]) -> None:
        seen.append(record)
        meter.add(record, None)

    with FakeOpenAIServer(reply=reply, usage_of_one_choice=True) as srv:
        cfg = config(srv, tmp_path)
        lm = LanguageModel(parse_backend(cfg.lm, cfg), budget=2, max_responses_per_call=4, on_call=on_call)
        lm.prompt("s", "m", n_responses=3)
        lm.prompt("s", "m")  # one choice: its usage is believable
    (three, one) = seen
    assert three["output_tokens"] == 51 + 61 + 71 and three["estimated_tokens"] is True
    assert three["estimated_reason"] == "51 output tokens reported for 3 choices that need about 183"
    assert three["input_tokens"] == count_tokens("s") + count_tokens("m")  # the reported prompt tokens stay
    assert one["output_tokens"] == 51 and one["estimated_tokens"] is False and one["estimated_reason"] is None
    usage = meter.report()
    assert usage["calls"] == 2 and usage["estimated_calls"] == 1 and usage["output_tokens"] == 183 + 51
    assert usage["by_level"]["task"]["estimated_calls"] == 1


def test_usage_that_is_plausible_is_taken_as_reported(server: FakeOpenAIServer, tmp_path: Path) -> None:
    services, lm = session(config(server, tmp_path))
    replies = lm.prompt("s", "m", n_responses=3)
    usage = services.usage.report()
    assert usage["estimated_calls"] == 0 and usage["output_tokens"] == sum(count_tokens(r) for r in replies)


def test_negative_usage_numbers_are_estimated(server: FakeOpenAIServer, tmp_path: Path) -> None:
    choice = {"index": 0, "message": {"role": "assistant", "content": "y" * 40}, "finish_reason": "stop"}
    server.script_faults([("json", {"id": "c", "object": "chat.completion", "choices": [choice],
                                    "usage": {"prompt_tokens": -3, "completion_tokens": -1}})])
    result = openai_backend(server, tmp_path).generate(CompletionRequest("sys", "msg", 0.7, 1))
    assert result.replies == ["y" * 40] and result.estimated is True
    assert (result.input_tokens, result.output_tokens) == (count_tokens("sys") + count_tokens("msg"), 11)
    assert result.estimate_reason == "input token count -3 unusable; output token count -1 unusable"
