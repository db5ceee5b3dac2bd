"""Live calls to real providers: skipped unless a key is set AND SELFTAUGHT_LIVE_TESTS=1 (never in CI)."""

from __future__ import annotations

import os

import pytest

from selftaught.config import Config
from selftaught.lm import parse_backend
from selftaught.lm._base import CompletionRequest

LIVE = os.environ.get("SELFTAUGHT_LIVE_TESTS") == "1"


@pytest.mark.parametrize(
    ("spec", "key"),
    [("openai:gpt-4o-mini", "OPENAI_API_KEY"), ("anthropic:claude-3-5-haiku-latest", "ANTHROPIC_API_KEY")],
)
def test_a_live_provider_answers_with_usage(spec: str, key: str) -> None:
    if not (LIVE and os.environ.get(key)):
        pytest.skip(f"live test: set {key} and SELFTAUGHT_LIVE_TESTS=1 to run it")
    backend = parse_backend(spec, Config(cache="off", max_tokens=20))
    result = backend.generate(CompletionRequest("Answer with one word.", "Say hello.", 0.0, 1))
    assert len(result.replies) == 1 and result.replies[0].strip()
    assert result.input_tokens > 0 and result.output_tokens > 0 and not result.estimated
