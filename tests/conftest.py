"""Shared fixtures (the classes live in support.py, importable by tests)."""

from __future__ import annotations

import pytest

from support import EchoTask, SumTask


@pytest.fixture
def sum_task() -> SumTask:
    return SumTask()


@pytest.fixture
def echo_task() -> EchoTask:
    return EchoTask()
