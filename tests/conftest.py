"""Shared fixtures (the classes live in support.py, importable by tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from selftaught.tasks._secret import ENV_VAR
from support import TEST_SECRET_TEXT, EchoTask, SumTask


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config directory, never the user's, and the tests' split secret (so the
    same instances every run); tests of where the secret comes from unset SELFTAUGHT_SPLIT_SECRET."""
    path = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(path))
    monkeypatch.setenv(ENV_VAR, TEST_SECRET_TEXT)
    return path


@pytest.fixture
def sum_task() -> SumTask:
    return SumTask()


@pytest.fixture
def echo_task() -> EchoTask:
    return EchoTask()
