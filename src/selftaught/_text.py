"""Small text helpers for messages: the last line that says something (a traceback's exception line)."""

from __future__ import annotations


def last_line(text: str, limit: int = 300, default: str = "") -> str:
    """The last non-blank line of `text`, stripped and cut to `limit` characters (`default` when there is none)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:limit] if lines else default
