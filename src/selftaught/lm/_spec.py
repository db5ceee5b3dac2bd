"""Parsing of `--lm SPEC`: which backend answers the improvers' prompts, wrapped in the record/replay cache."""

from __future__ import annotations

import os
from pathlib import Path
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
#: Where a spec can come from (see `spec_source`): the flag, this environment variable, or a config file's path.
FLAG = "--lm"
ENV_VAR = "SELFTAUGHT_LM"


def spec_source(flag: str | None, config_file: str | None) -> str:
    """Where a command's LM spec came from, as `parse_backend` takes it: FLAG (also for the default), the path
    of the config file that sets `lm`, or ENV_VAR (build_config's order: flag, then file, then variable)."""
    if flag is not None:
        return FLAG
    if config_file is not None:
        from selftaught.config import load_toml

        try:
            if "lm" in load_toml(Path(config_file)):
                return config_file
        except UserError:
            pass
    return ENV_VAR if os.environ.get(ENV_VAR) else FLAG


def check_spec(spec: str | None, source: str = FLAG) -> None:
    """Refuses a malformed spec in one line that says where it came from (no file is read, no SDK imported)."""
    _split(spec, source)


def parse_backend(spec: str | None, config: Config | None = None, *, source: str = FLAG) -> Backend:
    """The backend named by `spec` (default `mutate`); real providers are configured from `config`.

    `source` says where the spec came from, for error messages: FLAG, ENV_VAR or a config file's path.
    """
    kind, arg = _split(spec, source)
    if kind == "mutate":
        return MutateBackend()
    if kind == "scripted":
        return ScriptedBackend(arg)
    return _provider(kind, arg, config)


def _split(spec: str | None, source: str) -> tuple[str, str]:
    """(kind, argument) of a well-formed spec; UserError naming `source` otherwise."""
    text = (spec or "").strip()
    kind, colon, arg = text.partition(":")
    kind, arg = kind.strip().lower(), arg.strip()
    if kind in ("", "mutate") and not colon:
        return "mutate", ""
    if kind == "mutate":
        raise _error(source, text, f"mutate takes no argument (got {text!r})")
    if kind == "scripted" and not arg:
        raise _error(source, text, "scripted needs a file: scripted:PATH (a JSON or JSONL file of replies)")
    if kind in PROVIDERS and not arg:
        raise _error(source, text, f"{kind} needs a model: {kind}:MODEL")
    if kind == "scripted" or kind in PROVIDERS:
        return kind, arg
    available = ", ".join(AVAILABLE_SPECS)
    if source == FLAG:
        raise UserError(f"unknown --lm spec {text!r}: valid forms are {available}")
    raise UserError(f"unknown LM spec {text!r} in {_where(source)}: valid forms are {available}")


def _where(source: str) -> str:
    return f"the {ENV_VAR} environment variable" if source == ENV_VAR else f"`lm` of {source}"


def _error(source: str, text: str, problem: str) -> UserError:
    if source == FLAG:
        return UserError(f"--lm {problem}")
    return UserError(f"LM spec {text!r} in {_where(source)}: {problem}")


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
