"""The fake OpenAI server behaves like the API as seen through the official ``openai`` SDK."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

openai = pytest.importorskip("openai")

from openai_server import FakeOpenAIServer, count_tokens  # noqa: E402

MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You are an expert Python programmer."},
    {"role": "user", "content": "Improve this algorithm:\ndef algorithm(a):\n    return 0\n"},
]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def client(server: FakeOpenAIServer, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"api_key": "test-key", "base_url": server.url, "max_retries": 0, **kwargs}
    return openai.OpenAI(**args)


def create(c: Any, **kwargs: Any) -> Any:
    return c.chat.completions.create(**{"model": "gpt-fake", "messages": MESSAGES, **kwargs})


def test_n_choices_and_exact_usage() -> None:
    with FakeOpenAIServer(reply=lambda body, i: f"answer {i} " + "x" * (10 * i)) as server, client(server) as c:
        response = create(c, n=3)
    contents = [choice.message.content for choice in response.choices]
    assert contents == ["answer 0 ", "answer 1 " + "x" * 10, "answer 2 " + "x" * 20]
    assert [choice.index for choice in response.choices] == [0, 1, 2]
    assert {choice.finish_reason for choice in response.choices} == {"stop"}
    assert response.model == "gpt-fake"
    prompt = sum(len(m["content"]) // 4 + 1 for m in MESSAGES)
    completion = sum(len(text) // 4 + 1 for text in contents)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (prompt, completion)
    assert (prompt, completion) == (10 + 14, 3 + 5 + 8)  # 36 and 55 chars in; 9, 19 and 29 chars out
    assert response.usage.total_tokens == 40


def test_default_reply_echoes_the_user_message_and_the_request_is_recorded(server: FakeOpenAIServer) -> None:
    with client(server) as c:
        response = create(c, temperature=0.7, max_tokens=123)
    assert response.choices[0].message.content == (
        "```python\n# reply 0 to: Improve this algorithm: def algorithm(a)\ndef algorithm(*args):\n    return 0\n```"
    )
    [record] = server.requests
    assert record["body"]["messages"] == MESSAGES
    assert record["body"]["temperature"] == 0.7
    assert record["body"]["max_tokens"] == 123
    assert record["headers"]["authorization"] == "Bearer test-key"
    assert record["fault"] is None and record["status"] == 200
    assert server.request_count == 1


def test_wrong_key_is_an_authentication_error_and_consumes_no_fault(server: FakeOpenAIServer) -> None:
    server.script_faults([("500",)])
    with client(server, api_key="wrong") as c, pytest.raises(openai.AuthenticationError) as info:
        create(c)
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert server.pending_faults == [("500",)]


def test_scripted_429_carries_retry_after_then_the_queue_drains(server: FakeOpenAIServer) -> None:
    server.script_faults([("429", 2)])
    with client(server) as c:
        with pytest.raises(openai.RateLimitError) as info:
            create(c)
        assert info.value.response.headers["retry-after"] == "2"
        assert info.value.code == "rate_limit_exceeded"
        assert create(c).choices[0].message.content  # the queue is empty: success
    assert [r["fault"] for r in server.requests] == [("429", 2), None]


def test_sdk_retries_honour_the_fake_429_and_500(server: FakeOpenAIServer) -> None:
    server.script_faults([("429", 0.05), ("500",)])
    with client(server, max_retries=2) as c:
        assert create(c).choices
    assert [r["status"] for r in server.requests] == [429, 500, 200]
    assert server.requests[1]["headers"]["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize("status", ["500", "503"])
def test_server_errors_are_internal_server_errors(server: FakeOpenAIServer, status: str) -> None:
    server.script_faults([(status,)])
    with client(server) as c, pytest.raises(openai.InternalServerError) as info:
        create(c)
    assert info.value.status_code == int(status)


def test_malformed_body_raises_a_plain_json_decode_error(server: FakeOpenAIServer) -> None:
    # The SDK (openai 3.x) does NOT wrap this: a 200 with Content-Type application/json and a non-JSON body raises
    # json.JSONDecodeError (a ValueError) straight out of response.json(); it is not an openai.APIError.
    server.script_faults([("malformed",)])
    with client(server) as c, pytest.raises(json.JSONDecodeError) as info:
        create(c)
    assert not isinstance(info.value, openai.APIError)


def test_dropped_connection_is_a_connection_error(server: FakeOpenAIServer) -> None:
    server.script_faults([("drop",)])
    with client(server) as c, pytest.raises(openai.APIConnectionError) as info:
        create(c)
    assert not isinstance(info.value, openai.APITimeoutError)


def test_bad_request_and_streaming_are_400s(server: FakeOpenAIServer) -> None:
    server.script_faults([("400", "context_length_exceeded: too long")])
    with client(server) as c:
        with pytest.raises(openai.BadRequestError, match="too long"):
            create(c)
        with pytest.raises(openai.BadRequestError, match="Streaming is not supported"):
            create(c, stream=True)


def test_slow_reply_beyond_the_client_timeout_is_a_timeout(server: FakeOpenAIServer) -> None:
    server.script_faults([("slow", 3.0)])
    start = time.monotonic()
    with client(server, timeout=0.3) as c, pytest.raises(openai.APITimeoutError):
        create(c)
    assert time.monotonic() - start < 2.0


def test_slow_reply_within_the_timeout_succeeds(server: FakeOpenAIServer) -> None:
    server.script_faults([("slow", 0.2)])
    start = time.monotonic()
    with client(server, timeout=5) as c:
        assert create(c).choices
    assert time.monotonic() - start >= 0.2


def test_no_n_support_no_usage_and_a_length_cut_off() -> None:
    fake = FakeOpenAIServer(supports_n=False, usage=False, finish_reason="length")
    with fake as server, client(server) as c:
        response = create(c, n=4)
    assert len(response.choices) == 1
    assert response.choices[0].finish_reason == "length"
    assert response.usage is None


def test_concurrent_requests_overlap(server: FakeOpenAIServer) -> None:
    server.delay = 0.3
    server.script_faults([("500",)] * 2)
    with client(server) as c, ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(create, c) for _ in range(4)]
        outcomes = [type(f.exception()).__name__ if f.exception() else "ok" for f in futures]
    assert sorted(outcomes) == ["InternalServerError", "InternalServerError", "ok", "ok"]
    assert server.max_in_flight >= 2
    assert server.request_count == 4


def test_models_endpoint(server: FakeOpenAIServer) -> None:
    with client(server) as c:
        assert [m.id for m in c.models.list()] == ["fake-model"]


def test_binds_loopback_only_and_stop_leaves_nothing_behind() -> None:
    before = set(threading.enumerate())
    server = FakeOpenAIServer().start()
    host, port = server.address
    assert host == "127.0.0.1" and server.url == f"http://127.0.0.1:{port}/v1"
    idle = client(server)
    assert create(idle).choices  # leaves an idle keep-alive connection in the SDK's pool
    server.script_faults([("slow", 30)])
    with client(server, timeout=0.2) as c, pytest.raises(openai.APITimeoutError):
        create(c)  # leaves a handler sleeping for 30 s
    start = time.monotonic()
    server.stop()
    idle.close()
    assert time.monotonic() - start < 2.0  # stop() wakes the sleeping handler rather than waiting 30 s
    assert set(threading.enumerate()) <= before
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=1):
        pass


def test_fault_script_is_validated(server: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        server.script_faults([("418",)])
    with pytest.raises(ValueError, match="argument"):
        server.script_faults([("slow",)])
    assert count_tokens("abcd") == 2


def test_html_fault_is_a_200_text_html_page_the_sdk_hands_back_as_a_string(server: FakeOpenAIServer) -> None:
    server.script_faults([("html",)])
    with client(server) as c:
        response = create(c)
    assert isinstance(response, str) and "502 Bad Gateway" in response
    assert server.requests[0]["status"] == 200


def test_quota_and_error_faults_carry_the_status_and_code(server: FakeOpenAIServer) -> None:
    server.script_faults([("quota",), ("error", 413, "Request too large"),
                          ("error", 404, "no such model", "model_not_found")])
    with client(server) as c:
        with pytest.raises(openai.RateLimitError) as quota:
            create(c)
        with pytest.raises(openai.APIStatusError, match="Request too large") as large:
            create(c)
        with pytest.raises(openai.NotFoundError) as missing:
            create(c)
    assert quota.value.code == "insufficient_quota" and large.value.status_code == 413
    assert missing.value.code == "model_not_found"


def test_max_n_answers_llama_cpps_400_and_accepts_n_within_it() -> None:
    with FakeOpenAIServer(max_n=4) as server, client(server) as c:
        with pytest.raises(openai.BadRequestError) as info:
            create(c, n=6)
        assert len(create(c, n=4).choices) == 4
    assert info.value.body == {"code": 400, "message": "Field 'n': Value must be between 1 <= value <= 4",
                               "type": "invalid_request_error"}


def test_usage_of_one_choice_reports_the_first_choices_completion_tokens_only() -> None:
    fake = FakeOpenAIServer(reply=lambda body, i: "x" * (8 * (i + 1)), usage_of_one_choice=True)
    with fake as server, client(server) as c:
        response = create(c, n=3)
    assert response.usage.completion_tokens == count_tokens("x" * 8) == 3
