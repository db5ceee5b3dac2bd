"""Parsing of `--lm SPEC`: which backend answers the improvers' prompts, wrapped in the record/replay cache."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from selftaught.errors import UserError
from selftaught.lm._base import Backend
from selftaught.lm._providers import LOCAL_BASE_URLS, ProviderSettings
from selftaught.lm.mutate import MutateBackend
from selftaught.lm.scripted import ScriptedBackend

if TYPE_CHECKING:
    from selftaught.config import Config

#: The specs this release understands, for error messages and help text.
AVAILABLE_SPECS = ("mutate", "scripted:PATH", "openai:MODEL", "anthropic:MODEL", "ollama:MODEL", "vllm:MODEL")
PROVIDERS = ("openai", "anthropic", "ollama", "vllm")


def parse_backend(spec: str | None, config: Config | None = None) -> Backend:
    """The backend named by `spec` (default `mutate`); real providers are configured from `config`."""
    text = (spec or "").strip()
    kind, colon, arg = text.partition(":")
    kind = kind.strip().lower()
    available = ", ".join(AVAILABLE_SPECS)
    if kind in ("", "mutate") and not colon:
        return MutateBackend()
    if kind == "mutate":
        raise UserError(f"--lm mutate takes no argument (got {text!r})")
    if kind == "scripted":
        path = arg.strip()
        if not path:
            raise UserError("--lm scripted needs a file: scripted:PATH (a JSON or JSONL file of replies)")
        return ScriptedBackend(path)
    if kind in PROVIDERS:
        model = arg.strip()
        if not model:
            raise UserError(f"--lm {kind} needs a model: {kind}:MODEL")
        return _provider(kind, model, config)
    raise UserError(f"unknown --lm spec {text!r}: valid forms are {available}")


def _provider(kind: str, model: str, config: Config | None) -> Backend:
    from selftaught.config import Config
    from selftaught.lm._cached import CachedBackend
    from selftaught.lm.cache import LMCache, default_cache_path

    cfg = config or Config()
    base_url = cfg.base_url
    if base_url is None and kind == "openai":
        base_url = os.environ.get("OPENAI_BASE_URL") or None
    if base_url is None:
        base_url = LOCAL_BASE_URLS.get(kind)
    key_env = cfg.api_key_env or ("ANTHROPIC_API_KEY" if kind == "anthropic" else "OPENAI_API_KEY")
    settings = ProviderSettings(
        base_url=base_url,
        api_key_env=key_env,
        max_tokens=cfg.max_tokens,
        request_timeout=cfg.request_timeout,
        max_retries=cfg.max_retries,
        concurrency=cfg.concurrency,
        supports_n=kind != "ollama",  # Ollama's OpenAI-compatible API ignores n
        offline=cfg.cache == "replay",
    )
    backend: Backend
    if kind == "anthropic":
        from selftaught.lm.anthropic_backend import AnthropicBackend

        backend = AnthropicBackend(model, settings)
    else:
        from selftaught.lm.openai_backend import OpenAIBackend

        backend = OpenAIBackend(model, settings, label=kind)
    if cfg.cache == "off":
        return backend
    cache = LMCache(cfg.cache_path or default_cache_path())
    return CachedBackend(backend, cache, cfg.cache, {"max_tokens": cfg.max_tokens})
