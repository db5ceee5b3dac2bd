"""The anthropic provider over real HTTP to a minimal local Messages API: request shape, n, usage, faults."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("anthropic")

from selftaught.errors import LMError
from selftaught.lm._base import CompletionRequest
from selftaught.lm._providers import ProviderSettings
from selftaught.lm.anthropic_backend import AnthropicBackend


class MessagesServer:
    """Answers POST /v1/messages like the Anthropic API; `faults` are status codes returned first."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.faults: list[int] = []
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
                if fault is not None:
                    payload = json.dumps({"type": "error", "error": {"type": "x", "message": f"fault {fault}"}})
                    self.send_response(fault)
                else:
                    payload = json.dumps({
                        "id": f"msg_{index}", "type": "message", "role": "assistant", "model": body["model"],
                        "content": [{"type": "text", "text": f"reply {index}"}],
                        "stop_reason": "max_tokens" if index == 2 else "end_turn", "stop_sequence": None,
                        "usage": {"input_tokens": 11, "output_tokens": 7},
                    })
                    self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
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
    return AnthropicBackend("claude-test", settings)


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


def test_overloaded_is_retried_but_authentication_is_not(server: MessagesServer) -> None:
    server.faults = [529]
    assert backend(server).generate(CompletionRequest("s", "m", 0.5, 1)).replies == ["reply 2"]
    server.faults = [401]
    with pytest.raises(LMError, match="authentication failed") as info:
        backend(server).generate(CompletionRequest("s", "m", 0.5, 1))
    assert info.value.retryable is False and len(server.bodies) == 3
