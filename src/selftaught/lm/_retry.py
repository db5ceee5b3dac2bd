"""Retrying provider calls: only what is retryable, with jittered exponential backoff and a cap."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from selftaught.errors import LMError

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """How to treat a failed call: retry (after `retry_after` seconds if the server said), or stop."""

    retry: bool
    message: str
    retry_after: float | None = None


def status_verdict(status: int, message: str, retry_after: float | None, key_hint: str) -> Verdict:
    """The verdict for an HTTP error status: 429, 408, 409 and 5xx are retryable; auth and the rest are not."""
    described = f"HTTP {status}: {message}"
    if status in (401, 403):
        return Verdict(False, f"authentication failed ({described}); {key_hint}")
    if status == 429 or status >= 500 or status in (408, 409):
        return Verdict(True, described, retry_after)
    return Verdict(False, f"the request was refused ({described})")


@dataclass(frozen=True)
class RetryPolicy:
    """Attributes:
    max_retries: retries after the first attempt.
    base_delay: first backoff, doubled each retry, with full jitter.
    max_delay: cap on any single wait (a server's Retry-After included).
    """

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        return float(min(self.max_delay, self.base_delay * 2.0**attempt) * (0.5 + rng.random() / 2))


def call_with_retries(
    call: Callable[[], T],
    classify: Callable[[Exception], Verdict | None],
    policy: RetryPolicy,
    *,
    label: str,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, str, float], None] | None = None,
) -> T:
    """Runs `call`; retries what `classify` calls retryable; raises LMError for the rest or when out of tries.

    `classify` returns None for exceptions that are not the provider's (they propagate unchanged).
    """
    rng = random.Random()
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None:
                raise
            if not verdict.retry:
                error = LMError(f"{label}: {verdict.message}")
                error.retryable = False
                raise error from None
            if attempt >= policy.max_retries:
                error = LMError(f"{label}: gave up after {attempt + 1} attempts: {verdict.message}")
                error.retryable = True
                raise error from None
            wait = policy.delay(attempt, verdict.retry_after, rng)
            if on_retry is not None:
                on_retry(attempt + 1, verdict.message, wait)
            sleep(wait)
            attempt += 1
