"""A small OpenAI-compatible HTTP server for tests (standard library only, bound to 127.0.0.1 only).

Point the official ``openai`` SDK at it with ``base_url=server.url`` to exercise the real HTTP path::

    with FakeOpenAIServer() as server:
        client = openai.OpenAI(api_key="test-key", base_url=server.url, max_retries=0)
        server.script_faults([("429", 1), ("500",)])
        ...

Endpoints: ``POST /v1/chat/completions`` (non-streaming only) and ``GET /v1/models``; anything else is a 404.

Order of handling for a chat request: the request is read and recorded, ``delay`` is waited, then the auth check
(a 401 consumes no fault), then one scripted fault is popped and applied, then the body is validated and answered.

Token accounting is deterministic: prompt_tokens = sum over messages of ``len(content)//4 + 1`` and
completion_tokens = sum over choices of ``len(content)//4 + 1`` (see :func:`count_tokens`).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Reply = Callable[[dict[str, Any], int], str]
_Answer = tuple[int, Any, dict[str, str], bytes | None]

#: The fault kinds accepted by :meth:`FakeOpenAIServer.script_faults` and the arguments each takes.
FAULT_ARITY: dict[str, tuple[int, int]] = {
    "429": (0, 1),  # ("429",) or ("429", retry_after_seconds): 429, Retry-After header when given
    "500": (0, 0),  # 500 server_error
    "503": (0, 0),  # 503 server_error (overloaded)
    "slow": (1, 1),  # ("slow", seconds): sleep, then answer normally
    "malformed": (0, 1),  # 200, Content-Type application/json, body not JSON (optional: the body text)
    "drop": (0, 0),  # close the connection without answering
    "400": (1, 1),  # ("400", message): invalid_request_error
    "json": (1, 1),  # ("json", payload): 200 with this JSON payload verbatim (valid JSON, any shape)
    "html": (0, 1),  # 200, Content-Type text/html, a gateway's HTML page (optional: the body text)
    "quota": (0, 0),  # 429 insufficient_quota, as OpenAI answers an account out of credit
    "error": (2, 3),  # ("error", status, message[, code]): that status with an OpenAI-style error body
}

#: What llama.cpp's server answers when `n` exceeds its slots ({max_n} is filled in).
LLAMA_N_REFUSAL = "Field 'n': Value must be between 1 <= value <= {max_n}"
GATEWAY_HTML = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"

HOST = "127.0.0.1"


def content_text(content: Any) -> str:
    """The text of a message content: a string, a list of content parts, or None."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def count_tokens(text: str) -> int:
    """The fake tokenizer: ``len(text) // 4 + 1``."""
    return len(text) // 4 + 1


def default_reply(body: dict[str, Any], index: int) -> str:
    """An echo of the last user message (first 40 chars, newlines replaced by spaces) as a Python code block."""
    last_user = ""
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            last_user = content_text(message.get("content"))
    snippet = last_user[:40].replace("\r", " ").replace("\n", " ")
    return f"```python\n# reply {index} to: {snippet}\ndef algorithm(*args):\n    return 0\n```"


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a server never stopped cannot hang interpreter exit; stop() joins them itself
    fake: FakeOpenAIServer

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        self.fake._add_handler_thread(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or disconnect are expected here; stay quiet rather than print tracebacks.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.request, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track(self.request, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing -----------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", content_type)  # a fault may send another type
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_fake_{next(self.server.fake._ids)}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client went away (e.g. it timed out)
            self.close_connection = True

    def _authorized(self) -> bool:
        key = self.server.fake.api_key
        return key is None or self.headers.get("Authorization") == f"Bearer {key}"

    def _send_401(self) -> None:
        self._send(401, error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key"))

    # -- endpoints ----------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._read_body()
        if self.path.rstrip("/") != "/v1/models":
            self._send(404, error_body(f"Unknown URL: GET {self.path}", "invalid_request_error", "unknown_url"))
            return
        if not self._authorized():
            self._send_401()
            return
        created = int(time.time())
        models = [{"id": m, "object": "model", "created": created, "owned_by": "fake"} for m in self.server.fake.models]
        self._send(200, {"object": "list", "data": models})

    def do_POST(self) -> None:
        raw = self._read_body()
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, error_body(f"Unknown URL: POST {self.path}", "invalid_request_error", "unknown_url"))
            return
        self.server.fake._chat(self, raw)


class FakeOpenAIServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1 with scripted faults and request recording.

    Args:
        reply: ``reply(body, index) -> content`` for choice ``index``; default :func:`default_reply`.
        supports_n: when False, ``n`` is ignored and one choice is returned (as some local servers do).
        usage: when False, the response has no ``usage`` object.
        finish_reason: the finish_reason of every choice (e.g. ``"length"`` to simulate a cut-off reply).
        api_key: the expected bearer token; None accepts any (or no) Authorization header.
        delay: every chat request takes at least this many seconds (to make concurrency measurable).
        models: the ids listed by ``GET /v1/models``.
        max_n: when set, a request with a larger ``n`` gets HTTP 400 with ``n_refusal`` (formatted with
            ``max_n``) in an error body shaped like llama.cpp's (``code`` 400, no ``param``).
        n_refusal: the message of that 400; default :data:`LLAMA_N_REFUSAL`.
        usage_of_one_choice: report the completion tokens of the first choice only, as llama.cpp's server
            does when n > 1.

    The attributes above may be changed while the server runs.
    """

    def __init__(
        self,
        reply: Reply | None = None,
        *,
        supports_n: bool = True,
        usage: bool = True,
        finish_reason: str = "stop",
        api_key: str | None = "test-key",
        delay: float = 0.0,
        models: Sequence[str] = ("fake-model",),
        max_n: int | None = None,
        n_refusal: str = LLAMA_N_REFUSAL,
        usage_of_one_choice: bool = False,
    ) -> None:
        self.reply: Reply = reply or default_reply
        self.supports_n = supports_n
        self.usage = usage
        self.finish_reason = finish_reason
        self.api_key = api_key
        self.delay = delay
        self.models = list(models)
        self.max_n = max_n
        self.n_refusal = n_refusal
        self.usage_of_one_choice = usage_of_one_choice
        self._lock = threading.Lock()
        self._faults: collections.deque[tuple[Any, ...]] = collections.deque()
        self._requests: list[dict[str, Any]] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        httpd = _HTTPServer((HOST, 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # wakes handlers sleeping in delay/slow
        httpd.shutdown()  # stops the accept loop
        thread.join()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # unblock handlers waiting on idle keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # closes the listening socket
        with self._lock:
            threads = list(self._handler_threads)
        for handler_thread in threads:
            handler_thread.join(timeout=5)
        with self._lock:
            self._handler_threads.clear()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The base URL for the SDK, e.g. ``http://127.0.0.1:PORT/v1``."""
        host, port = self.address
        return f"http://{host}:{port}/v1"

    # -- faults and recording -----------------------------------------------------------------------------

    def script_faults(self, faults: Iterable[tuple[Any, ...]]) -> None:
        """Append faults to the queue; each incoming (authorized) chat request consumes one."""
        checked = []
        for fault in faults:
            if not isinstance(fault, tuple) or not fault or fault[0] not in FAULT_ARITY:
                raise ValueError(f"unknown fault {fault!r}; kinds: {sorted(FAULT_ARITY)}")
            lo, hi = FAULT_ARITY[fault[0]]
            if not lo <= len(fault) - 1 <= hi:
                raise ValueError(f"fault {fault!r} takes {lo}..{hi} argument(s)")
            checked.append(fault)
        with self._lock:
            self._faults.extend(checked)

    @property
    def pending_faults(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._faults)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of the chat requests received, in arrival order.

        Each is ``{"body": parsed JSON or None, "raw_body": str, "headers": {lower-cased name: value},
        "time": time.monotonic() at arrival, "fault": the fault tuple applied or None, "status": HTTP status
        sent (None for a dropped connection)}``.
        """
        with self._lock:
            return [dict(r) for r in self._requests]

    @property
    def request_count(self) -> int:
        """The number of chat requests received (any outcome)."""
        with self._lock:
            return len(self._requests)

    @property
    def max_in_flight(self) -> int:
        """The most chat requests being handled at the same moment."""
        with self._lock:
            return self._max_in_flight

    def reset(self) -> None:
        """Forget recorded requests, pending faults and the in-flight high-water mark."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._max_in_flight = self._in_flight

    def _add_handler_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._handler_threads = {t for t in self._handler_threads if t.is_alive()}
            self._handler_threads.add(thread)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- the chat endpoint --------------------------------------------------------------------------------

    def _chat(self, handler: _Handler, raw: bytes) -> None:
        arrival = time.monotonic()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record: dict[str, Any] = {
            "body": body,
            "raw_body": raw.decode("utf-8", "replace"),
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "time": arrival,
            "fault": None,
            "status": None,
        }
        with self._lock:
            self._requests.append(record)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            answer = self._answer(handler, body, record)
            with self._lock:  # recorded before the client can see the answer
                record["status"] = None if answer is None else answer[0]
            if answer is None:  # ("drop",): close the connection without answering
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
            else:
                status, payload, headers, raw_reply = answer
                handler._send(status, payload, headers, raw_reply)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, handler: _Handler, body: Any, record: dict[str, Any]) -> _Answer | None:
        """What to send: (status, JSON payload, extra headers, raw body or None), or None to drop the connection."""
        if self.delay > 0:
            self._stopping.wait(self.delay)
        if not handler._authorized():
            return 401, error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key"), {}, None
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            record["fault"] = fault
        if fault is not None:
            kind, args = fault[0], fault[1:]
            if kind == "429":
                headers = {"Retry-After": _seconds(args[0])} if args and args[0] is not None else {}
                message = "Rate limit reached for requests. Please try again later."
                return 429, error_body(message, "requests", "rate_limit_exceeded"), headers, None
            if kind == "500":
                message = "The server had an error while processing your request. Sorry about that!"
                return 500, error_body(message, "server_error"), {}, None
            if kind == "503":
                message = "The engine is currently overloaded, please try again later."
                return 503, error_body(message, "server_error"), {}, None
            if kind == "400":
                return 400, error_body(str(args[0]), "invalid_request_error"), {}, None
            if kind == "malformed":
                text = str(args[0]) if args else '{"id": "chatcmpl-broken", "choices": [ this is not json'
                return 200, None, {}, text.encode()
            if kind == "json":
                return 200, args[0], {}, None
            if kind == "html":
                text = str(args[0]) if args else GATEWAY_HTML
                return 200, None, {"Content-Type": "text/html"}, text.encode()
            if kind == "quota":
                message = "You exceeded your current quota, please check your plan and billing details."
                return 429, error_body(message, "insufficient_quota", "insufficient_quota"), {}, None
            if kind == "error":
                status, message = int(args[0]), str(args[1])
                code = str(args[2]) if len(args) > 2 else None
                type_ = "server_error" if status >= 500 else "invalid_request_error"
                return status, error_body(message, type_, code), {}, None
            if kind == "drop":
                return None
            if kind == "slow":
                self._stopping.wait(float(args[0]))
        status, payload = self._completion(body)
        return status, payload, {}, None

    def _completion(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, error_body("We could not parse the JSON body of your request.", "invalid_request_error")
        messages = body.get("messages")
        if not isinstance(body.get("model"), str):
            return 400, error_body("you must provide a model parameter", "invalid_request_error", param="model")
        if not isinstance(messages, list) or not messages:
            return 400, error_body("'messages' must be a non-empty array", "invalid_request_error", param="messages")
        if body.get("stream"):
            message = "Streaming is not supported by this fake server."
            return 400, error_body(message, "invalid_request_error", "unsupported_value", "stream")
        n = body.get("n")
        if self.max_n is not None and isinstance(n, int) and n > self.max_n:
            message = self.n_refusal.format(max_n=self.max_n)
            return 400, {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}
        n = 1 if n is None or not self.supports_n else n
        if not isinstance(n, int) or n < 1:
            return 400, error_body(f"Invalid 'n': {n!r}", "invalid_request_error", "invalid_value", "n")
        try:
            contents = [self.reply(body, i) for i in range(n)]
        except Exception as exc:  # a bug in a test's reply function: surface it as a 500 with the message
            return 500, error_body(f"reply function raised {type(exc).__name__}: {exc}", "server_error")
        payload: dict[str, Any] = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": self.finish_reason,
                }
                for i, content in enumerate(contents)
            ],
        }
        if self.usage:
            prompt = sum(count_tokens(content_text(m.get("content"))) for m in messages if isinstance(m, dict))
            completion = sum(count_tokens(c) for c in contents[: 1 if self.usage_of_one_choice else None])
            payload["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return 200, payload


def _seconds(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)
