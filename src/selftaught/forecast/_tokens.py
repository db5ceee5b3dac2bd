"""Counting the tokens of a prompt or a reply: the model's tokenizer where one is installed, else a stated estimate."""

from __future__ import annotations

import functools
import importlib
import math
import threading
from typing import Any

from selftaught.forecast._range import Range
from selftaught.lm import CompletionRequest
from selftaught.lm._base import estimate_tokens
from selftaught.lm.caps import reserved_prompt_tokens

#: Tokens a chat request adds around its system prompt and user message (role markers, the reply's start):
#: 4 per message and 3 for the reply, as OpenAI's chat format counts them.
CHAT_OVERHEAD = 2 * 4 + 3
#: Seconds tiktoken may take to load an encoding (its first use downloads it) before the estimate goes without it.
LOAD_TIMEOUT = 10.0
OFFLINE_KINDS = ("mutate", "scripted")


class TokenCounter:
    """Counts tokens as low / expected / high; `name` says how, in the estimate's output."""

    name = ""

    def text(self, text: str) -> Range:
        """The tokens of a text (a reply, a program)."""
        raise NotImplementedError

    def prompt(self, system: str, message: str) -> Range:
        """The input tokens one request with this system prompt and message is billed."""
        raise NotImplementedError


class OfflineCounter(TokenCounter):
    """What an offline backend (mutate, scripted) records: len(text) // 4 + 1 per text (`lm._base.estimate_tokens`);
    exact, since it is the backend's own count."""

    name = "the offline backend's own count (len(text) // 4 + 1 a text)"

    def text(self, text: str) -> Range:
        return Range.of(estimate_tokens(text))

    def prompt(self, system: str, message: str) -> Range:
        return Range.of(estimate_tokens(system) + estimate_tokens(message))


class TiktokenCounter(TokenCounter):
    """The model's own tokenizer (tiktoken), plus CHAT_OVERHEAD per request: exact up to the chat template."""

    def __init__(self, encoding: Any) -> None:
        self.encoding = encoding
        self.name = f"tiktoken ({encoding.name})"

    def _count(self, text: str) -> int:
        return len(self.encoding.encode(text, disallowed_special=()))

    def text(self, text: str) -> Range:
        return Range.of(self._count(text))

    def prompt(self, system: str, message: str) -> Range:
        return Range.of(self._count(system) + self._count(message) + CHAT_OVERHEAD)


class EstimateCounter(TokenCounter):
    """No tokenizer for the model: expected ceil(chars / 4) (English and code average about 4 characters a token),
    low ceil(chars / 5), high UTF-8 bytes / 3 (what `--max-usd` reserves for a prompt, `lm.caps`)."""

    def __init__(self, why: str) -> None:
        self.name = f"estimate: ceil(characters / 4) tokens, low chars / 5, high bytes / 3 ({why})"

    def text(self, text: str) -> Range:
        chars = len(text)
        return Range(math.ceil(chars / 5), math.ceil(chars / 4), len(text.encode("utf-8", "surrogatepass")) // 3 + 1)

    def prompt(self, system: str, message: str) -> Range:
        low = math.ceil(len(system) / 5) + math.ceil(len(message) / 5) + CHAT_OVERHEAD
        expected = math.ceil(len(system) / 4) + math.ceil(len(message) / 4) + CHAT_OVERHEAD
        high = reserved_prompt_tokens(CompletionRequest(system, message, 0.7, 1))
        return Range(low, expected, max(high, expected))


def counter_for(kind: str, model: str) -> TokenCounter:
    """The counter for a backend kind (`mutate`, `openai`, ...) and model: tiktoken for an `openai:` model it knows,
    when tiktoken is installed and its encoding loads; the offline count for offline backends; else the estimate."""
    if kind in OFFLINE_KINDS:
        return OfflineCounter()
    if kind != "openai":
        return EstimateCounter(f"no tokenizer is used for {kind}: models")
    encoding, why = _tiktoken_encoding(model)
    return TiktokenCounter(encoding) if encoding is not None else EstimateCounter(why)


@functools.lru_cache(maxsize=16)
def _tiktoken_encoding(model: str) -> tuple[Any, str]:
    """(the encoding, "") or (None, why not): tiktoken missing, the model unknown to it, or its encoding not loaded
    within LOAD_TIMEOUT (tiktoken downloads an encoding on first use; offline, that fails)."""
    try:
        tiktoken = importlib.import_module("tiktoken")  # optional: pip install 'selftaught[estimate]'
    except ImportError:
        return None, "tiktoken is not installed: pip install 'selftaught[estimate]'"
    try:
        name = tiktoken.encoding_name_for_model(model)
    except (KeyError, ValueError):
        return None, f"tiktoken does not know the model {model!r}"
    found: list[Any] = []
    failed: list[str] = []

    def load() -> None:
        try:
            found.append(tiktoken.get_encoding(name))
        except Exception as exc:  # a download that failed, a damaged cache: go without it
            failed.append(type(exc).__name__)

    loader = threading.Thread(target=load, name="tiktoken-load", daemon=True)
    loader.start()
    loader.join(LOAD_TIMEOUT)
    if found:
        return found[0], ""
    why = failed[0] if failed else f"it took over {LOAD_TIMEOUT:g}s"
    return None, f"tiktoken could not load its {name} encoding ({why})"
