"""Fixtures of the provider tests: a fake OpenAI-compatible server on 127.0.0.1, with the key it expects set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openai_server import FakeOpenAIServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAIServer() as srv:
        yield srv
