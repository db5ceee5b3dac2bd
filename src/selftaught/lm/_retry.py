"""Retrying provider calls: only what is retryable, with jittered exponential backoff and a cap."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

from selftaught.errors import LMError, LMRefused

T = TypeVar("T")

#: retry: the same request may succeed later; refuse: the provider refused this request (LMRefused, not
#: fatal); fatal: no retry and no other request can succeed (LMError, the run stops).
VerdictKind = Literal["retry", "refuse", "fatal"]

#: Error codes or types that mean the account is out of money or quota (OpenAI sends 429 insufficient_quota).
QUOTA_CODES = frozenset({"insufficient_quota", "billing_error", "billing_hard_limit_reached"})
#: Words in an error message that mean the same (Anthropic answers 400 "Your credit balance is too low").
QUOTA_PHRASES = ("credit balance", "insufficient_quota", "exceeded your current quota")


class MalformedReply(Exception):
    """A 200 whose body is not a valid completion (an HTML page, no choices...): retried like a 5xx."""


@dataclass(frozen=True)
class Verdict:
    """How to treat a failed call: retry (after `retry_after` seconds if the server said), refuse, or stop."""

    kind: VerdictKind
    message: str
    retry_after: float | None = None
    status: int | None = None

    @property
    def retry(self) -> bool:
        return self.kind == "retry"


def status_verdict(status: int, message: str, retry_after: float | None, key_hint: str,
                   codes: Iterable[str] = ()) -> Verdict:
    """The verdict for an HTTP error status and the error's code/type strings.

    Fatal: 401/403 (authentication), an exhausted quota (any status, e.g. 429 insufficient_quota, 402),
    404 (no such model or endpoint: every request would fail alike). Retried: 429, 408, 409, 5xx.
    Refused (this request only): every other 4xx, e.g. 400, 413, 422.
    """
    described = f"HTTP {status}: {message}"
    lowered = message.lower()
    if status in (401, 403):
        return Verdict("fatal", f"authentication failed ({described}); {key_hint}", status=status)
    if status == 402 or QUOTA_CODES & set(codes) or any(p in lowered for p in QUOTA_PHRASES):
        return Verdict("fatal", f"quota or credit exhausted ({described}); check the account's plan and billing",
                       status=status)
    if status == 429 or status >= 500 or status in (408, 409):
        return Verdict("retry", described, retry_after, status)
    if status == 404:
        return Verdict("fatal", f"not found ({described}); check the model name and the base URL", status=status)
    if 400 <= status < 500:
        return Verdict("refuse", f"the request was refused ({described})", status=status)
    return Verdict("fatal", f"unexpected answer ({described})", status=status)


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
        """Seconds to wait before retry `attempt + 1`: Retry-After if given, else half to all of the backoff."""
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
    rng: random.Random | None = None,
) -> T:
    """Runs `call`; retries what is retryable; raises LMRefused for a refusal, LMError for the rest.

    `call` raises MalformedReply for a reply it cannot use (retried). `classify` returns None for
    exceptions that are not the provider's (they propagate unchanged). Out of tries is an LMError.
    """
    rng = rng or random.Random()
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            verdict = Verdict("retry", f"malformed reply: {exc}") if isinstance(exc, MalformedReply) else classify(exc)
            if verdict is None:
                raise
            if verdict.kind == "refuse":
                raise LMRefused(f"{label}: {verdict.message}", verdict.status) from None
            if verdict.kind == "fatal":
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
