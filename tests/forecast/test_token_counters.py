"""Tokens are counted with the model's tokenizer where one is installed and loads, else with the stated estimate."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from selftaught.config import Config
from selftaught.forecast import estimate_run
from selftaught.forecast._tokens import _tiktoken_encoding, counter_for
from selftaught.lm._base import estimate_tokens

TEXT = "def algorithm(x):\n    return sorted(x)  # a short program, and some prose around it\n"


class FakeEncoding:
    """Stands for a tiktoken encoding: one token per word (so its counts differ from every estimate)."""

    name = "fake_base"

    def encode(self, text: str, disallowed_special: Any = ()) -> list[int]:
        return [0] * len(text.split())


def fake_tiktoken(load: Any) -> types.ModuleType:
    module = types.ModuleType("tiktoken")
    known = {"gpt-4o": "fake_base"}

    def encoding_name_for_model(model: str) -> str:
        return known[model]

    module.encoding_name_for_model = encoding_name_for_model  # type: ignore[attr-defined]
    module.get_encoding = load  # type: ignore[attr-defined]
    return module


@pytest.fixture(autouse=True)
def fresh_encodings() -> Iterator[None]:
    _tiktoken_encoding.cache_clear()
    yield
    _tiktoken_encoding.cache_clear()


def test_an_installed_tiktoken_whose_encoding_loads_counts_openai_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", fake_tiktoken(lambda name: FakeEncoding()))
    counter = counter_for("openai", "gpt-4o")
    assert counter.name == "tiktoken (fake_base)"
    words = len(TEXT.split())
    assert counter.text(TEXT).low == counter.text(TEXT).high == words
    assert counter.prompt("be brief", TEXT).expected == 2 + words + 11  # plus the chat template's tokens
    estimate = estimate_run(Config(lm="openai:gpt-4o", iterations=0))
    assert estimate.token_counter == "tiktoken (fake_base)"
    fixed = estimate.parts[0].items[0].figures.input_tokens
    assert fixed.low == fixed.expected  # an exact count: no spread for the tokenizer


def test_an_encoding_that_cannot_load_falls_back_to_the_estimate_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(name: str) -> Any:
        raise ConnectionError("no route to the encoding's file")

    monkeypatch.setitem(sys.modules, "tiktoken", fake_tiktoken(offline))
    counter = counter_for("openai", "gpt-4o")
    assert counter.name.startswith("estimate: ceil(characters / 4)")
    assert "could not load its fake_base encoding (ConnectionError" in counter.name
    assert "does not know the model 'my-finetune'" in counter_for("openai", "my-finetune").name


def test_without_tiktoken_the_estimate_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import fails
    name = counter_for("openai", "gpt-4o").name
    assert "tiktoken is not installed" in name and "selftaught[estimate]" in name
    assert "no tokenizer is used for anthropic" in counter_for("anthropic", "claude-opus-4-0").name


def test_the_estimate_brackets_a_tokenizer_it_does_not_have() -> None:
    counter = counter_for("anthropic", "claude-opus-4-0")
    count = counter.text(TEXT)
    assert count.low < count.expected < count.high
    assert count.expected == -(-len(TEXT) // 4)
    prompt = counter.prompt("be brief", TEXT)
    assert prompt.low < prompt.expected <= prompt.high


def test_offline_backends_are_counted_as_they_count_themselves() -> None:
    counter = counter_for("mutate", "")
    assert counter.text(TEXT).expected == estimate_tokens(TEXT)
    assert counter.prompt("s", TEXT).high == estimate_tokens("s") + estimate_tokens(TEXT)
