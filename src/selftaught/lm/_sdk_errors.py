"""What the provider SDKs (openai, anthropic) raise and return: the verdict on a failure, what a reply lacks."""

from __future__ import annotations

import json
from typing import Any

from selftaught.lm._retry import Verdict, status_verdict


def classify_sdk_error(exc: Exception, sdk: Any, key_hint: str) -> Verdict | None:
    """The verdict on an exception of an SDK built like openai's and anthropic's (None: not the provider's).

    Retry 429 (honouring Retry-After), 5xx, 408/409, connection errors, timeouts and bodies that are not
    JSON; refuse other 4xx; auth, quota and 404 are fatal (see `status_verdict`).
    """
    if isinstance(exc, sdk.APIStatusError):
        return status_verdict(exc.status_code, error_message(exc), retry_after(exc), key_hint, error_codes(exc))
    if isinstance(exc, (sdk.APIConnectionError, sdk.APIResponseValidationError)):
        return Verdict("retry", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, json.JSONDecodeError):  # the SDKs let a body that is not JSON through as this
        return Verdict("retry", f"malformed reply (not JSON: {exc})")
    return None


def error_message(exc: Any) -> str:
    """The provider's own message, from the body the SDK kept (else the exception's text)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]


def error_codes(exc: Any) -> list[str]:
    """The error's `code` and `type` (e.g. "insufficient_quota"), from the body the SDK kept."""
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return []
    return [str(inner[k]) for k in ("code", "type") if inner.get(k) is not None]


def retry_after(exc: Any) -> float | None:
    """Seconds the server asked to wait (`retry-after-ms` or `retry-after`), if it did."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                return None
    return None


def snippet(body: Any, limit: int = 80) -> str:
    """The start of a reply body on one line, to say what came back instead of a completion."""
    text = " ".join(str(body).split())
    return "an empty body" if not text else f"a body that is not a completion: {text[:limit]!r}"
