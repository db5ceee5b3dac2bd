"""Reading a server's refusal of `n`: whether it is about `n`, and the cap to use next."""

from __future__ import annotations

import pytest

from selftaught.lm._n_limit import n_limit


@pytest.mark.parametrize(
    ("message", "asked", "cap"),
    [
        ("Field 'n': Value must be between 1 <= value <= 4", 6, 4),  # llama.cpp, 4 slots
        ("Invalid 'n': integer above maximum value. Expected a value <= 8, but got 10 instead.", 10, 8),  # OpenAI
        ("n must be at most 3", 6, 3),
        ("n must be 1 when using greedy sampling, got 6.", 6, 1),  # vLLM
        ("'n' must be between 1 and 2", 5, 2),
        ("n must be less than 5", 9, 4),
        ("n > 1 is not supported", 6, 1),  # about n, no cap stated: one sample per request
        ("n must be at most 128", 6, 5),  # a stated cap above what was asked: still fewer next time
    ],
)
def test_a_refusal_about_n_gives_the_cap_to_use(message: str, asked: int, cap: int) -> None:
    assert n_limit(message, asked) == cap


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
        "Invalid value for 'n_predict': must be at most 4",
        "content policy violation\\n see docs",
        "max_tokens must be at most 4096",
    ],
)
def test_a_refusal_not_about_n_is_not_read_as_one(message: str) -> None:
    assert n_limit(message, 6) is None


def test_a_request_for_one_sample_is_never_read_as_refused_for_n() -> None:
    assert n_limit("Field 'n': Value must be between 1 <= value <= 4", 1) is None
