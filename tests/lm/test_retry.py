"""Which provider failures are retried, refused or fatal, and how long the retries wait."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from selftaught.errors import InfrastructureError, LMError, LMRefused
from selftaught.lm._retry import MalformedReply, RetryPolicy, Verdict, call_with_retries, status_verdict


@pytest.mark.parametrize(
    ("status", "codes", "kind", "needle"),
    [
        (302, [], "fatal", "unexpected answer"),
        (399, [], "fatal", "unexpected answer"),
        (400, ["invalid_request_error"], "refuse", "refused"),
        (401, ["invalid_api_key"], "fatal", "authentication failed"),
        (402, [], "fatal", "quota or credit exhausted"),
        (403, [], "fatal", "authentication failed"),
        (404, ["model_not_found"], "fatal", "check the model name"),
        (408, [], "retry", "HTTP 408"),
        (409, [], "retry", "HTTP 409"),
        (413, [], "refuse", "refused"),
        (422, [], "refuse", "refused"),
        (429, ["rate_limit_exceeded"], "retry", "HTTP 429"),
        (429, ["insufficient_quota"], "fatal", "quota"),
        (499, [], "refuse", "refused"),
        (500, ["server_error"], "retry", "HTTP 500"),
        (503, [], "retry", "HTTP 503"),
        (599, [], "retry", "HTTP 599"),
    ],
)
def test_each_status_class_gets_its_verdict(status: int, codes: list[str], kind: str, needle: str) -> None:
    verdict = status_verdict(status, "the provider's words", 2.0, "check the API key", codes)
    assert verdict.kind == kind and needle in verdict.message and "the provider's words" in verdict.message
    assert verdict.retry is (kind == "retry")
    assert verdict.retry_after == (2.0 if kind == "retry" else None)
    assert verdict.status == status


def test_a_credit_balance_message_is_fatal_even_as_a_400() -> None:
    verdict = status_verdict(400, "Your credit balance is too low to access the Anthropic API.", None, "k")
    assert verdict.kind == "fatal" and "quota or credit exhausted" in verdict.message


def test_backoff_doubles_from_the_base_with_jitter_between_half_and_all_of_it() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=0.5, max_delay=60.0)
    rng = random.Random(7)
    for attempt in range(10):
        full = min(60.0, 0.5 * 2**attempt)
        waits = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert all(full / 2 <= w <= full for w in waits)
        assert max(waits) - min(waits) > full / 4  # jittered, not a constant
    assert policy.delay(20, None, rng) <= 60.0  # capped however many attempts


def test_retry_after_is_honoured_up_to_the_cap_and_ignored_when_negative() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=10.0)
    rng = random.Random(1)
    assert policy.delay(0, 3.0, rng) == 3.0
    assert policy.delay(0, 500.0, rng) == 10.0
    assert 0.25 <= policy.delay(0, -1.0, rng) <= 0.5


def failing(errors: list[Exception], result: str = "ok") -> tuple[list[int], Callable[[], str]]:
    calls = [0]

    def call() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return result

    return calls, call


def classify(exc: Exception) -> Verdict | None:
    if isinstance(exc, KeyError):
        return None
    status = int(str(exc.args[0]))
    return status_verdict(status, f"message {status}", None, "hint")


def test_retryable_failures_are_retried_with_growing_waits_then_succeed() -> None:
    waits: list[float] = []
    calls, call = failing([ValueError(503), MalformedReply("no choices"), ValueError(429)])
    result = call_with_retries(call, classify, RetryPolicy(max_retries=5, base_delay=1.0), label="p:m",
                               sleep=waits.append, rng=random.Random(3))
    assert result == "ok" and calls[0] == 4
    assert [0.5 <= waits[0] <= 1.0, 1.0 <= waits[1] <= 2.0, 2.0 <= waits[2] <= 4.0] == [True] * 3


def test_out_of_retries_is_a_retryable_fatal_error_naming_the_last_failure() -> None:
    calls, call = failing([MalformedReply("an empty body")] * 3)
    with pytest.raises(LMError, match=r"^p:m: gave up after 3 attempts: malformed reply: an empty body$") as info:
        call_with_retries(call, classify, RetryPolicy(max_retries=2), label="p:m", sleep=lambda _s: None)
    assert info.value.retryable is True and calls[0] == 3


def test_a_refusal_raises_lmrefused_at_once_and_is_not_an_infrastructure_error() -> None:
    calls, call = failing([ValueError(422)])
    with pytest.raises(LMRefused, match=r"p:m: the request was refused \(HTTP 422: message 422\)") as info:
        call_with_retries(call, classify, RetryPolicy(), label="p:m", sleep=lambda _s: None)
    assert info.value.status == 422 and calls[0] == 1
    assert not isinstance(info.value, InfrastructureError)


def test_a_fatal_status_is_not_retried_and_foreign_exceptions_pass_through() -> None:
    calls, call = failing([ValueError(401)])
    with pytest.raises(LMError, match="authentication failed") as info:
        call_with_retries(call, classify, RetryPolicy(), label="p:m", sleep=lambda _s: None)
    assert info.value.retryable is False and calls[0] == 1
    calls, call = failing([KeyError("ours")])
    with pytest.raises(KeyError):
        call_with_retries(call, classify, RetryPolicy(), label="p:m", sleep=lambda _s: None)
    assert calls[0] == 1


class PinnedRandom(random.Random):
    """A Random whose every draw is `value`, so each jittered wait is an exact number."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_the_jitter_adds_zero_to_half_of_the_backoff_on_top_of_its_half() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0)
    # attempt 3: the backoff is 1.0 * 2**3 = 8 seconds; a draw of r waits 8 * (1/2 + r/2).
    assert [policy.delay(3, None, PinnedRandom(r)) for r in (0.0, 0.25, 0.5, 0.75)] == [4.0, 5.0, 6.0, 7.0]


def test_each_retry_waits_exactly_twice_as_long_as_the_one_before_until_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.25, max_delay=10.0)
    waits = [policy.delay(attempt, None, PinnedRandom(0.5)) for attempt in range(8)]
    # 3/4 of 0.25 * 2**attempt, and of the 10 s cap once the backoff passes it
    assert waits == [0.1875, 0.375, 0.75, 1.5, 3.0, 6.0, 7.5, 7.5]


def test_a_retry_after_of_zero_means_retry_at_once() -> None:
    assert RetryPolicy(base_delay=5.0).delay(2, 0.0, PinnedRandom(0.5)) == 0.0


def test_the_default_policy_tries_six_times_from_half_a_second_and_caps_waits_at_a_minute() -> None:
    # The providers build RetryPolicy(max_retries=...) and rely on these defaults for the waits.
    waits: list[float] = []
    calls, call = failing([ValueError(503)] * 10)
    with pytest.raises(LMError, match=r"gave up after 6 attempts: HTTP 503"):
        call_with_retries(call, classify, RetryPolicy(), label="p:m", sleep=waits.append, rng=PinnedRandom(0.5))
    assert calls[0] == 6
    assert waits == [0.375, 0.75, 1.5, 3.0, 6.0]
    assert RetryPolicy().delay(12, None, PinnedRandom(0.5)) == 45.0  # 3/4 of the 60 s cap
    assert RetryPolicy().delay(0, 3600.0, PinnedRandom(0.5)) == 60.0  # a server's Retry-After is capped alike


def test_every_retry_is_reported_with_its_number_reason_and_the_wait_then_slept() -> None:
    waits: list[float] = []
    reports: list[tuple[int, str, float]] = []
    calls, call = failing([ValueError(503), MalformedReply("no choices"), ValueError(408)])
    result = call_with_retries(call, classify, RetryPolicy(base_delay=1.0), label="p:m", sleep=waits.append,
                               on_retry=lambda n, why, wait: reports.append((n, why, wait)), rng=PinnedRandom(0.0))
    assert result == "ok" and calls[0] == 4
    assert reports == [(1, "HTTP 503: message 503", 0.5), (2, "malformed reply: no choices", 1.0),
                       (3, "HTTP 408: message 408", 2.0)]
    assert waits == [wait for _, _, wait in reports]
