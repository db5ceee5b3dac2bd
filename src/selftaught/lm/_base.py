"""The backend contract: one method that answers a completion request with n replies."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CompletionRequest:
    """One request to a backend, canonical and self-contained.

    Attributes:
      system: the system prompt (the paper's `expertise`).
      message: the user message.
      temperature: sampling temperature.
      n: number of replies wanted.
      first_sample: index of the first of the n samples among identical requests made on the
        same stream (the second identical request on a stream starts where the first ended).
      seed: the run's seed mixed with the stream's name: together with the request and the
        sample index it determines a deterministic backend's reply.
      max_tokens: a reply token limit below the backend's configured one (a dollar cap lowered it, see
        `selftaught.lm.caps`); None: the configured one.
    """

    system: str
    message: str
    temperature: float
    n: int
    first_sample: int = 0
    seed: int = 0
    max_tokens: int | None = None

    def token_limit(self, configured: int) -> int:
        """The reply token limit to send: the configured one, or this request's lower one."""
        return configured if self.max_tokens is None else max(1, min(configured, self.max_tokens))

    def content_key(self) -> str:
        """Hash of what was asked (not of which samples or seed): groups identical requests."""
        blob = json.dumps([self.system, self.message, self.temperature], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()  # any str, lone surrogates too

    def sample_seed(self, sample: int) -> int:
        """A 64-bit seed for sample `sample` that depends only on seed, request and index."""
        blob = f"{self.seed}\x00{self.content_key()}\x00{sample}".encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) where a backend reports none."""
    return len(text) // 4 + 1


@dataclass(frozen=True)
class Generation:
    """A backend's answer to one request: the replies and what they cost.

    Attributes:
      replies: exactly `request.n` texts.
      input_tokens, output_tokens: as reported by the provider for the requests it served
        (estimated, and `estimated` set, where it reported none).
      requests: provider requests made (0 when everything came from the cache).
      cache_hits: replies served from the record/replay cache.
      finish_reasons: per reply, e.g. "stop" or "length" (cut off by the token limit).
      estimated: whether some token counts are estimates (the provider reported none, or implausible ones).
      estimate_reason: why, in a few words ("" when not estimated).
    """

    replies: list[str]
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cache_hits: int = 0
    finish_reasons: list[str | None] = field(default_factory=list)
    estimated: bool = False
    estimate_reason: str = ""


class Backend(ABC):
    """A language-model backend. Budgets, caps and accounting live above it, in the session."""

    name: str = "backend"
    #: The model, for pricing and the cache key ("" for backends without one).
    model: str = ""
    #: A line shown to the user when this backend is used (e.g. "no model: offline baseline").
    notice: str = ""

    @abstractmethod
    def generate(self, request: CompletionRequest) -> Generation:
        """Returns exactly `request.n` replies, for samples first_sample .. first_sample+n-1."""

    def complete(self, request: CompletionRequest) -> list[str]:
        """Just the replies."""
        return self.generate(request).replies

    def prompt_copies(self, n: int) -> int:
        """At most how many times the prompt is billed for `n` samples of one request (each sample may be a
        request of its own, unless the backend knows better)."""
        return n


class OfflineBackend(Backend):
    """A backend that needs no model (mutate, scripted): it only has to produce the texts."""

    @abstractmethod
    def complete(self, request: CompletionRequest) -> list[str]:
        """Returns exactly `request.n` replies, for samples first_sample .. first_sample+n-1."""

    def generate(self, request: CompletionRequest) -> Generation:
        replies = self.complete(request)
        prompt = estimate_tokens(request.system) + estimate_tokens(request.message)
        return Generation(
            replies,
            input_tokens=prompt * len(replies),
            output_tokens=sum(estimate_tokens(r) for r in replies),
            requests=0,
            finish_reasons=["stop"] * len(replies),
            estimated=True,
            estimate_reason="offline backend",
        )
