"""The openai provider's failures, over real HTTP to the fake server: refused, fatal, malformed, n caps, usage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openai_server import FakeOpenAIServer
from selftaught.broker import Services
from selftaught.config import Config
from selftaught.errors import LMError
from selftaught.lm import Backend, parse_backend
from selftaught.lm._retry import RetryPolicy
from selftaught.lm.openai_backend import OpenAIBackend
from selftaught.lm.session import LanguageModel

CONTEXT = "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens."


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer() as srv:
        yield srv


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
