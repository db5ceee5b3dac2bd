"""An OpenAI-compatible chat server on 127.0.0.1 answering after a fixed latency with mutate-backend replies."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from selftaught.lm import Backend, CompletionRequest, MutateBackend
from selftaught.lm._base import estimate_tokens

HOST = "127.0.0.1"


@dataclass(frozen=True)
class RequestRecord:
    """One chat request: when it arrived and was answered (time.monotonic()), how many choices, the status."""

    arrival: float
    finish: float
    n: int
    status: int


def max_in_flight(records: list[RequestRecord]) -> int:
    """The most requests whose [arrival, finish] intervals overlap at one moment."""
    edges = sorted([(r.arrival, 1) for r in records] + [(r.finish, -1) for r in records])  # a finish sorts first
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # an idle keep-alive connection must not hold up stop()
    owner: LatencyServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that disconnect are expected; no tracebacks on stderr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:
        self._body()
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "mutate", "object": "model", "owned_by": "bench"}]})
        else:
            self._send(404, _error(f"unknown URL: GET {self.path}"))

    def do_POST(self) -> None:
        raw = self._body()
        arrival = time.monotonic()
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, _error(f"unknown URL: POST {self.path}"))
            return
        status, payload, n = self.server.owner.answer(raw)
        self.server.owner.wait_until(arrival)
        try:
            self._send(status, payload)
        finally:
            self.server.owner.record(RequestRecord(arrival, time.monotonic(), n, status))


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


class LatencyServer:
    """The server. `latency` (seconds) may be changed while it runs; `reset()` forgets records and sample counts.

    Used by `bench/run.py` to time a STOP iteration against a model of known latency. Every
    `POST /v1/chat/completions` is answered with `n` choices made by `selftaught`'s `mutate` backend
    (AST mutations of the programs in the message: solution programs at the task level, improver
    programs at the meta level), no sooner than `latency` seconds after it arrived. Each request's
    arrival and finish times are recorded, so a caller can count requests and the most in flight.

    Sample indices are counted per distinct (system, message, temperature), as a stream of the
    `LanguageModel` does: the k-th identical request gets the next samples, so identical prompts from
    different downstream runs get different replies, and after `reset()` a new run gets the same replies.

    Standalone: `python bench/latency_server.py --latency 1 --port 8000` serves until interrupted.

    Args:
        latency: every chat request is answered this many seconds after it arrived (or as soon as its
            replies are made, if that takes longer).
        backend: what makes the replies (default: `MutateBackend`); it gets a `CompletionRequest` with
            the request's system prompt, last user message, temperature, `n` and the next sample index.
        seed: the seed of every `CompletionRequest` (the HTTP API carries none).
        port: 0 for any free port.
    """

    def __init__(self, latency: float = 1.0, *, backend: Backend | None = None, seed: int = 0,
                 port: int = 0) -> None:
        self.latency = latency
        self.backend = backend or MutateBackend()
        self.seed = seed
        self.port = port
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._samples: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LatencyServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        httpd = _HTTPServer((HOST, self.port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="latency-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None or self._thread is None:
            return
        self._stopping.set()  # wakes handlers still waiting out their latency
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.server_close()
        self._httpd = self._thread = None

    def __enter__(self) -> LatencyServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL for an OpenAI client, e.g. http://127.0.0.1:PORT/v1."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://{HOST}:{self._httpd.server_address[1]}/v1"

    # -- records --------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._samples.clear()

    def record(self, item: RequestRecord) -> None:
        with self._lock:
            self._records.append(item)

    @property
    def records(self) -> list[RequestRecord]:
        """The chat requests answered so far, in the order they finished."""
        with self._lock:
            return list(self._records)

    def summary(self) -> dict[str, Any]:
        """Requests, choices, the most in flight at once, and the span from the first arrival to the last finish."""
        records = self.records
        span = max(r.finish for r in records) - min(r.arrival for r in records) if records else 0.0
        return {"requests": len(records), "choices": sum(r.n for r in records), "max_in_flight": max_in_flight(records),
                "errors": sum(r.status != 200 for r in records), "span_s": round(span, 3)}

    # -- answering ------------------------------------------------------------------------------------

    def wait_until(self, arrival: float) -> None:
        left = arrival + self.latency - time.monotonic()
        if left > 0:
            self._stopping.wait(left)

    def answer(self, raw: bytes) -> tuple[int, dict[str, Any], int]:
        """(HTTP status, JSON payload, choices) for a chat-completions body."""
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _error("the body is not JSON"), 0
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return 400, _error("'messages' must be a non-empty array"), 0
        n = body.get("n") or 1
        temperature = body.get("temperature", 1.0)
        if not isinstance(n, int) or n < 1 or not isinstance(temperature, (int, float)):
            return 400, _error("invalid 'n' or 'temperature'"), 0
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
        user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        probe = CompletionRequest(system, user, float(temperature), n, 0, self.seed)
        with self._lock:  # reserve this request's sample indices
            first = self._samples[probe.content_key()]
            self._samples[probe.content_key()] += n
        request = CompletionRequest(system, user, float(temperature), n, first, self.seed)
        replies = self.backend.complete(request)
        prompt = estimate_tokens(system) + estimate_tokens(user)
        completion = sum(estimate_tokens(r) for r in replies)
        payload = {
            "id": f"chatcmpl-bench-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "mutate")),
            "choices": [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        for i, text in enumerate(replies)],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }
        return 200, payload, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds before each answer (default 1)")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000; 0: any)")
    args = parser.parse_args()
    with LatencyServer(args.latency, port=args.port) as server:
        print(f"serving {server.url} (latency {args.latency:g} s); Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        print(json.dumps(server.summary()))


if __name__ == "__main__":
    main()
