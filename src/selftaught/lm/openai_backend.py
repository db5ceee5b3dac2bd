"""The `openai:MODEL` backend: the official openai SDK, against OpenAI or any OpenAI-compatible server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selftaught.errors import LMRefused, UserError
from selftaught.lm._base import Backend, CompletionRequest, Generation, estimate_tokens
from selftaught.lm._n_limit import n_limit
from selftaught.lm._providers import ProviderSettings
from selftaught.lm._retry import MalformedReply, RetryPolicy, Verdict, call_with_retries
from selftaught.lm._sdk_errors import classify_sdk_error, snippet
from selftaught.lm._usage_check import checked_tokens


def _openai() -> Any:
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency
        raise UserError("the openai provider needs the openai package: pip install openai") from None
    return openai


def classify_openai_error(exc: Exception) -> Verdict | None:
    """The verdict on an openai SDK exception (see `classify_sdk_error`)."""
    return classify_sdk_error(exc, _openai(), "check the API key")


def _completion(response: Any) -> Any:
    """`response` if it is a usable chat completion; MalformedReply (retried) if it is not."""
    if isinstance(response, str) or not hasattr(response, "choices"):
        raise MalformedReply(snippet(response))
    choices = response.choices
    if not choices:
        raise MalformedReply("a completion with no choices")
    if not isinstance(choices, list):
        raise MalformedReply(f"a completion whose choices are not a list: {snippet(choices)}")
    for choice in choices:
        message = getattr(choice, "message", None)
        if message is None or not isinstance(getattr(message, "content", 0), (str, type(None))):
            raise MalformedReply("a choice without a message")
    return response


class OpenAIBackend(Backend):
    """Chat completions through the official SDK; `n` where the server honours it, parallel requests otherwise.

    `max_n` is the most samples one request may ask for: None while no limit is known, 1 for a server
    that ignores `n`. It is learnt from the server (fewer choices than asked, or a refusal about `n`
    that may state its cap) and kept for later requests.
    """

    def __init__(self, model: str, settings: ProviderSettings, *, label: str = "openai") -> None:
        openai = _openai()
        self.name = label
        self.model = model
        self.settings = settings
        self.client = openai.OpenAI(
            api_key=settings.api_key(required=settings.base_url is None),
            base_url=settings.base_url,
            timeout=settings.request_timeout,
            max_retries=0,  # retries are ours: only what is retryable, Retry-After honoured
        )
        self.policy = RetryPolicy(max_retries=settings.max_retries)
        self.max_n: int | None = None if settings.supports_n else 1
        self.honours_n = False  # a request for several samples got them all, in one response
        self._cap_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency)

    @property
    def label(self) -> str:
        return f"{self.name}:{self.model}"

    @property
    def supports_n(self) -> bool:
        """Whether several samples may go in one request (as far as is known)."""
        return self.max_n != 1

    def prompt_copies(self, n: int) -> int:
        """One prompt per request of up to `max_n` samples, once the server is known to honour `n`; else n."""
        if not self.honours_n or self.max_n == 1:
            return n
        return -(-n // (self.max_n or n))

    def _create(self, request: CompletionRequest, n: int) -> Any:
        messages = [{"role": "system", "content": request.system}, {"role": "user", "content": request.message}]
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": request.temperature,
                                  "max_tokens": request.token_limit(self.settings.max_tokens)}
        if n > 1:
            kwargs["n"] = n
        return call_with_retries(lambda: _completion(self.client.chat.completions.create(**kwargs)),
                                 classify_openai_error, self.policy, label=self.label)

    def _request(self, request: CompletionRequest, n: int) -> Any:
        """One request for `n` samples; None if the server refused it for its `n` (the cap is then lowered)."""
        try:
            return self._create(request, n)
        except LMRefused as refused:
            limit = n_limit(str(refused).removeprefix(f"{self.label}: "), n)
            if limit is None:
                raise
            self._lower_cap(limit)
            return None

    def _lower_cap(self, limit: int) -> None:
        with self._cap_lock:
            self.max_n = limit if self.max_n is None else min(self.max_n, limit)

    def generate(self, request: CompletionRequest) -> Generation:
        responses: list[Any] = []
        texts: list[str] = []
        reasons: list[str | None] = []
        refused = 0
        while len(texts) < request.n:  # each round gets samples or lowers max_n, so this ends
            missing = request.n - len(texts)
            size = min(missing, self.max_n or missing)
            sizes = [size] * (missing // size) + ([missing % size] if missing % size else [])
            if len(sizes) == 1:
                answers = [self._request(request, size)]
            else:  # within the server's cap, in parallel (the pool bounds requests in flight)
                answers = list(self._pool.map(lambda k: self._request(request, k), sizes))
            for asked, response in zip(sizes, answers, strict=True):
                if response is None:
                    refused += 1
                    continue
                responses.append(response)
                got_texts, got_reasons = _choices(response)
                texts += got_texts
                reasons += got_reasons
                if len(got_texts) < asked:
                    self._lower_cap(1)  # the server ignores n: from now on, parallel requests straight away
                elif asked > 1:
                    self.honours_n = True
        prompt = estimate_tokens(request.system) + estimate_tokens(request.message)
        inputs = outputs = 0
        notes: list[str] = []
        for response in responses:
            usage = getattr(response, "usage", None)
            tokens = checked_tokens(getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None),
                                    prompt, _choices(response)[0])
            inputs += tokens.input
            outputs += tokens.output
            if tokens.estimated and tokens.estimated not in notes:
                notes.append(tokens.estimated)
        return Generation(texts[: request.n], inputs, outputs, len(responses) + refused, 0, reasons[: request.n],
                          bool(notes), "; ".join(notes))


def _choices(response: Any) -> tuple[list[str], list[str | None]]:
    texts = [choice.message.content or "" for choice in response.choices]
    return texts, [choice.finish_reason for choice in response.choices]
