"""Parsing of `--lm SPEC`: which backend answers the improvers' prompts."""

from __future__ import annotations

from selftaught.errors import UserError
from selftaught.lm._base import Backend
from selftaught.lm.mutate import MutateBackend
from selftaught.lm.scripted import ScriptedBackend

#: The specs that work in this release, for error messages and help text.
AVAILABLE_SPECS = ("mutate", "scripted:PATH")
#: Providers that are recognised but not shipped yet.
FUTURE_PROVIDERS = ("openai", "anthropic", "ollama", "vllm")


def parse_backend(spec: str | None) -> Backend:
    """The backend named by `spec`: None, "" or "mutate" (the default), or "scripted:PATH"."""
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
    if kind in FUTURE_PROVIDERS:
        raise UserError(f"--lm {text}: real language-model providers ({', '.join(FUTURE_PROVIDERS)}) "
                        f"arrive in a later release; available now: {available}")
    future = ", ".join(f"{p}:MODEL" for p in FUTURE_PROVIDERS)
    raise UserError(f"unknown --lm spec {text!r}: valid forms are {available} ({future} in a later release)")
