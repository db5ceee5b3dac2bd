"""Small text helpers for messages: the last line that says something, and candidate text made inert for a terminal.

Candidate programs control their exception messages, outputs and details. Printed raw, an escape sequence in one
can redraw a line of selftaught's output (a forged score), set the window title, or reorder text with a bidi
override; `visible` shows every such character as an escape (`\\x1b`, `\\u202e`) instead.
"""

from __future__ import annotations

import re

#: C0 controls, DEL, C1 controls, and the bidirectional marks, embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: What a JSON encoder leaves raw (it always escapes C0) but a terminal still acts on.
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def last_line(text: str, limit: int = 300, default: str = "") -> str:
    """The last non-blank line of `text`, stripped and cut to `limit` characters (`default` when there is none).

    Lines end at a newline only: a carriage return (or another separator `str.splitlines` honours) inside a
    candidate's message must not hide what comes before it."""
    lines = [line.strip() for line in text.strip().split("\n") if line.strip()]
    return lines[-1][:limit] if lines else default


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def visible(text: str, keep: str = "\n\t") -> str:
    """`text` with every control character (C0, DEL, C1: so every ESC sequence) and every bidi control shown as a
    visible escape, except those in `keep` (newline and tab by default; `keep=""` makes one line of it)."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def json_safe(encoded: str) -> str:
    """JSON text (as `json.dumps(..., ensure_ascii=False)` makes it) with DEL, C1 and bidi controls written as
    `\\uXXXX` escapes: the same JSON value, but nothing a terminal acts on (such characters only occur in strings)."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
