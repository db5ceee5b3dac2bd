"""The limits never choose the sandbox (the default ones do); limits too small to start a worker are refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from selftaught.errors import UserError
from selftaught.sandbox import MIN_MEMORY_MB, Limits, LimitsTooSmall, select_sandbox


@pytest.fixture(autouse=True)
def fresh_selection() -> Iterator[None]:
    select_sandbox.cache_clear()
    try:
        select_sandbox("strict")
    except UserError as exc:
        pytest.skip(f"full isolation (bubblewrap) is unavailable here: {exc}")
    yield
    select_sandbox.cache_clear()


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_limits_a_worker_cannot_start_under_are_refused_not_blamed_on_bubblewrap(mode: str) -> None:
    with pytest.raises(LimitsTooSmall) as refused:
        select_sandbox(mode, Limits(open_files=4))
    assert str(refused.value).startswith(
        "the limits open_files=4 are too small for a worker to start (the worker said: OSError: [Errno 24] Too many "
        "open files"), str(refused.value)


def test_the_same_sandbox_is_chosen_under_limits_a_worker_starts_under() -> None:
    choice = select_sandbox("auto", Limits(open_files=16, memory_mb=MIN_MEMORY_MB))
    assert choice.sandbox.name == "bwrap" and choice.warning is None
    assert choice.sandbox.limits == Limits(open_files=16, memory_mb=MIN_MEMORY_MB)


def test_a_memory_limit_below_the_minimum_is_refused_before_any_worker_starts() -> None:
    with pytest.raises(LimitsTooSmall) as refused:
        select_sandbox("auto", Limits(memory_mb=MIN_MEMORY_MB - 1))
    assert refused.value.message("--memory") == (
        f"--memory {MIN_MEMORY_MB - 1} is too small for a worker to start (a worker that imports numpy needs at "
        f"least {MIN_MEMORY_MB} MB of address space)")
