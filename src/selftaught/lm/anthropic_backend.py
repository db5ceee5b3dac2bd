"""The `anthropic:MODEL` backend: the official anthropic SDK (optional extra: pip install selftaught[anthropic])."""

from __future__ import annotations

import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selftaught.errors import UserError
from selftaught.lm._base import Backend, CompletionRequest, Generation, estimate_tokens
from selftaught.lm._providers import ProviderSettings
from selftaught.lm._retry import MalformedReply, RetryPolicy, Verdict, call_with_retries
from selftaught.lm._sdk_errors import classify_sdk_error, snippet
from selftaught.lm._usage_check import checked_tokens

INSTALL_HINT = "the anthropic provider needs the anthropic package: pip install 'selftaught[anthropic]'"


def _anthropic() -> Any:
    try:
        import anthropic
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return anthropic


def classify_anthropic_error(exc: Exception) -> Verdict | None:
    """The verdict on an anthropic SDK exception (529, overloaded, is a 5xx: retried; see `classify_sdk_error`)."""
    return classify_sdk_error(exc, _anthropic(), "check ANTHROPIC_API_KEY")


def _message(response: Any) -> Any:
    """`response` if it is a usable message (its `content` a list of blocks); MalformedReply (retried) if not."""
    if isinstance(response, str) or not hasattr(response, "content"):
        raise MalformedReply(snippet(response))
    if not isinstance(response.content, list):
        raise MalformedReply("a message with no content" if response.content is None else
                             f"a message whose content is not a list: {snippet(response.content)}")
    return response


def _text(response: Any) -> str:
    return "".join(getattr(b, "text", "") or "" for b in response.content if getattr(b, "type", "") == "text")


class AnthropicBackend(Backend):
    """Messages API; it has no `n`, so n samples are n parallel requests.

    The temperature an improver asks for is sent only where the installed SDK still accepts one
    (clamped to Anthropic's 0..1); it is recorded with every call either way.
    """

    name = "anthropic"

    def __init__(self, model: str, settings: ProviderSettings) -> None:
        anthropic = _anthropic()
        self.model = model
        self.settings = settings
        self.client = anthropic.Anthropic(
            api_key=settings.api_key(required=settings.base_url is None),
            base_url=settings.base_url,
            timeout=settings.request_timeout,
            max_retries=0,
        )
        self.policy = RetryPolicy(max_retries=settings.max_retries)
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency)
        # Recent versions of the API (and SDK) take no sampling temperature; older ones do (0..1).
        self.sends_temperature = "temperature" in inspect.signature(self.client.messages.create).parameters

    def _create(self, request: CompletionRequest) -> Any:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "system": request.system,
            "messages": [{"role": "user", "content": request.message}],
            "max_tokens": request.token_limit(self.settings.max_tokens),
        }
        if self.sends_temperature:
            kwargs["temperature"] = min(1.0, request.temperature)  # Anthropic's range is 0..1
        return call_with_retries(lambda: _message(self.client.messages.create(**kwargs)), classify_anthropic_error,
                                 self.policy, label=f"anthropic:{self.model}")

    def generate(self, request: CompletionRequest) -> Generation:
        responses = list(self._pool.map(lambda _i: self._create(request), range(request.n)))
        texts = [_text(r) for r in responses]
        reasons = [{"max_tokens": "length", "end_turn": "stop"}.get(r.stop_reason, r.stop_reason) for r in responses]
        prompt = estimate_tokens(request.system) + estimate_tokens(request.message)
        counted = [checked_tokens(getattr(r.usage, "input_tokens", None), getattr(r.usage, "output_tokens", None),
                                  prompt, [text]) for r, text in zip(responses, texts, strict=True)]
        notes = list(dict.fromkeys(t.estimated for t in counted if t.estimated))
        return Generation(texts, sum(t.input for t in counted), sum(t.output for t in counted), len(responses), 0,
                          reasons, bool(notes), "; ".join(notes))
