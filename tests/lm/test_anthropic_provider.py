"""The anthropic provider over real HTTP to a minimal local Messages API: request shape, n, usage, faults."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("anthropic")

from selftaught.errors import InfrastructureError, LMError, LMRefused
from selftaught.lm._base import CompletionRequest
from selftaught.lm._providers import ProviderSettings
from selftaught.lm._retry import RetryPolicy
from selftaught.lm.anthropic_backend import AnthropicBackend

Fault = int | tuple[int, str, bytes]


class MessagesServer:
    """Answers POST /v1/messages like the Anthropic API; `faults` are returned first: a status code (with an
    error body), or (status, content type, body) verbatim. `usage` is the usage object of every answer."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.usage: Any = {"input_tokens": 11, "output_tokens": 7}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with outer.lock:
                    outer.bodies.append(body)
                    fault = outer.faults.pop(0) if outer.faults else None
                    index = len(outer.bodies)
                content_type = "application/json"
                if isinstance(fault, tuple):
                    status, content_type, raw = fault
                    payload = raw.decode()
                    self.send_response(status)
                elif fault is not None:
                    payload = json.dumps({"type": "error", "error": {"type": "x", "message": f"fault {fault}"}})
                    self.send_response(fault)
                else:
                    payload = json.dumps({
                        "id": f"msg_{index}", "type": "message", "role": "assistant", "model": body["model"],
                        "content": [{"type": "text", "text": f"reply {index}"}],
                        "stop_reason": "max_tokens" if index == 2 else "end_turn", "stop_sequence": None,
                        "usage": outer.usage,
                    })
                    self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload.encode())))
                self.end_headers()
                self.wfile.write(payload.encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    srv = MessagesServer()
    yield srv
    srv.close()


def backend(server: MessagesServer) -> AnthropicBackend:
    settings = ProviderSettings(base_url=server.url, api_key_env="ANTHROPIC_API_KEY", max_tokens=99, max_retries=2)
    b = AnthropicBackend("claude-test", settings)
    b.policy = RetryPolicy(max_retries=2, base_delay=0.01)  # short backoffs: their growth is tested in test_retry
    return b


def test_n_samples_are_parallel_requests_with_system_prompt_and_clamped_temperature(server: MessagesServer) -> None:
    result = backend(server).generate(CompletionRequest("be terse", "hello", 1.4, 3))
    assert sorted(result.replies) == ["reply 1", "reply 2", "reply 3"]
    assert result.requests == 3 and result.input_tokens == 33 and result.output_tokens == 21
    assert "length" in result.finish_reasons and "stop" in result.finish_reasons
    b = backend(server)
    for body in server.bodies:
        assert body["system"] == "be terse" and body["max_tokens"] == 99
        assert body.get("temperature") == (1.0 if b.sends_temperature else None)
        assert body["messages"] == [{"role": "user", "content": "hello"}]


def test_a_limit_lowered_by_a_dollar_cap_is_sent_and_never_raised_above_the_configured_one(
    server: MessagesServer,
) -> None:
    backend(server).generate(CompletionRequest("s", "m", 0.5, 1, max_tokens=40))
    backend(server).generate(CompletionRequest("s", "m", 0.5, 1, max_tokens=500))
    assert [body["max_tokens"] for body in server.bodies] == [40, 99]


def test_overloaded_is_retried_but_authentication_is_not(server: MessagesServer) -> None:
    server.faults = [529]
    assert backend(server).generate(CompletionRequest("s", "m", 0.5, 1)).replies == ["reply 2"]
    server.faults = [401]
    with pytest.raises(LMError, match="authentication failed") as info:
        backend(server).generate(CompletionRequest("s", "m", 0.5, 1))
    assert info.value.retryable is False and len(server.bodies) == 3


def error(status: int, type_: str, message: str) -> Fault:
    body = json.dumps({"type": "error", "error": {"type": type_, "message": message}}).encode()
    return (status, "application/json", body)


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "prompt is too long: 210000 tokens > 200000 maximum"), (413, "Request exceeds the maximum size")],
)
def test_a_refused_request_is_lmrefused_with_the_providers_message_and_not_retried(
    server: MessagesServer, status: int, message: str
) -> None:
    server.faults = [error(status, "invalid_request_error", message)]
    b = backend(server)
    with pytest.raises(LMRefused) as info:
        b.generate(CompletionRequest("s", "m", 0.5, 1))
    assert info.value.status == status and message in str(info.value)
    assert not isinstance(info.value, InfrastructureError) and len(server.bodies) == 1
    assert b.generate(CompletionRequest("s", "m", 0.5, 1)).replies == ["reply 2"]  # the next one is answered


def test_a_credit_balance_too_low_is_fatal_not_a_refusal(server: MessagesServer) -> None:
    server.faults = [error(400, "invalid_request_error", "Your credit balance is too low to access the API.")]
    with pytest.raises(LMError, match="quota or credit exhausted") as info:
        backend(server).generate(CompletionRequest("s", "m", 0.5, 1))
    assert info.value.retryable is False and len(server.bodies) == 1


MALFORMED: list[tuple[Fault, str]] = [
    ((200, "text/html", b"<html><body>502 Bad Gateway</body></html>"), "not a completion: '<html><body>502 Bad"),
    ((200, "application/json", b""), "malformed reply (not JSON"),
    ((200, "application/json", b'{"id": "msg_1", "type": "mess'), "malformed reply (not JSON"),
    ((200, "application/json", b'{"id": "msg_1", "type": "message", "role": "assistant"}'), "no content"),
]


@pytest.mark.parametrize(("fault", "needle"), MALFORMED)
def test_a_200_that_is_not_a_message_is_retried_then_fatal_with_a_clear_line(
    server: MessagesServer, fault: Fault, needle: str
) -> None:
    server.faults = [fault, fault]
    assert backend(server).generate(CompletionRequest("s", "m", 0.5, 1)).replies == ["reply 3"]
    server.faults = [fault] * 3
    with pytest.raises(LMError, match="gave up after 3 attempts") as info:
        backend(server).generate(CompletionRequest("s", "m", 0.5, 1))
    assert needle in str(info.value) and "\n" not in str(info.value) and len(server.bodies) == 6


def test_missing_usage_is_estimated_and_says_so(server: MessagesServer) -> None:
    server.usage = None
    result = backend(server).generate(CompletionRequest("system", "message", 0.5, 2))
    assert result.estimated is True and result.estimate_reason == "no usage reported"
    assert result.input_tokens == 2 * (len("system") // 4 + 1 + len("message") // 4 + 1)
    assert result.output_tokens == 2 * (len("reply 1") // 4 + 1)
    server.usage = {"input_tokens": 11, "output_tokens": 7}
    reported = backend(server).generate(CompletionRequest("system", "message", 0.5, 1))
    assert reported.estimated is False and (reported.input_tokens, reported.output_tokens) == (11, 7)
