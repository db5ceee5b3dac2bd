"""Provider settings shared by the real backends: endpoints, keys, limits (the Provider side of Model/Provider)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from selftaught.errors import UserError

LOCAL_BASE_URLS = {"ollama": "http://localhost:11434/v1", "vllm": "http://localhost:8000/v1"}


@dataclass(frozen=True)
class ProviderSettings:
    """How to reach a provider.

    Attributes:
      base_url: an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, SGLang, LM Studio,
        OpenRouter, Together...); None for the provider's own API.
      api_key_env: the environment variable the key is read from (the key itself is never stored
        or logged).
      max_tokens: the most tokens a reply may have.
      request_timeout: seconds one HTTP request may take.
      max_retries: retries of a retryable failure (429, 5xx, connection errors, timeouts, a 200 that is
        not a completion).
      concurrency: requests in flight at once, per backend.
      supports_n: whether the server may be sent `n` (several choices per request); when not,
        parallel requests are made instead. Where it is, a server that ignores or caps `n` is
        detected and remembered by the backend.
      offline: replay mode: the provider is never called, so no key is needed.
    """

    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_tokens: int = 2048
    request_timeout: float = 120.0
    max_retries: int = 5
    concurrency: int = 8
    supports_n: bool = True
    offline: bool = False

    def api_key(self, *, required: bool) -> str:
        """The key from the environment; a clear error when it is required and missing.

        In replay mode (`offline`) no key is needed: the network is never used.
        """
        key = os.environ.get(self.api_key_env, "")
        if not key and required and not self.offline:
            raise UserError(f"no API key: set {self.api_key_env} (or name another variable with api_key_env)")
        return key or "not-needed"
