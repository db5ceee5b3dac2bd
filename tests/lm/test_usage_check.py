"""Telling believable token usage from usage to estimate, and saying why."""

from __future__ import annotations

import pytest

from selftaught.lm._usage_check import checked_tokens


def test_reported_usage_is_kept_when_plausible() -> None:
    texts = ["x" * 40, "y" * 40]  # the estimate: 11 tokens each
    tokens = checked_tokens(30, 20, 99, texts)
    assert (tokens.input, tokens.output, tokens.estimated) == (30, 20, "")
    assert checked_tokens(30, 11, 99, ["x" * 40]).estimated == ""  # one choice, counted as reported


def test_one_choices_tokens_for_several_choices_are_replaced_by_the_estimate() -> None:
    tokens = checked_tokens(30, 11, 99, ["x" * 40] * 3)  # llama.cpp: the tokens of one choice of three
    assert (tokens.input, tokens.output) == (30, 33)
    assert tokens.estimated == "11 output tokens reported for 3 choices that need about 33"


@pytest.mark.parametrize(
    ("reported_in", "reported_out", "expected", "needle"),
    [
        (None, None, (99, 11), "no usage reported"),
        (-1, 5, (99, 5), "input token count -1 unusable"),
        (30, -4, (30, 11), "output token count -4 unusable"),
        (30, None, (30, 11), "no usable output token count"),
        (30, 0, (30, 11), "0 output tokens reported"),
        (30, "7", (30, 11), "output token count '7' unusable"),
    ],
)
def test_missing_negative_or_zero_counts_are_estimated_and_say_why(
    reported_in: object, reported_out: object, expected: tuple[int, int], needle: str
) -> None:
    tokens = checked_tokens(reported_in, reported_out, 99, ["x" * 40])
    assert (tokens.input, tokens.output) == expected and needle in tokens.estimated
