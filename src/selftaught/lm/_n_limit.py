"""Reading a server's refusal of `n` (samples per request): is it about `n`, and what cap does it state."""

from __future__ import annotations

import re

# `n` as a word of its own, maybe quoted: "Field 'n'", "n must be", "Invalid 'n'", "`n` ..." (not "\n", "n/a", "don't").
_ABOUT_N = re.compile(r"""(?<![\w\\'/-])['"`]?n['"`]?(?![\w/'-])""")
# An upper bound stated in words or symbols: "<= 4", "at most 128", "between 1 and 4", "maximum of 8"...
_AT_MOST = re.compile(
    r"(?:<=|≤|=<|\bat most|\bno more than|\bnot more than|\bup to|\bmaximum(?: value)?(?: of| is|:)?|\bmax(?: value)?:?"
    r"|\bless than or equal to|\bbetween \d+ and)\s*(\d+)",
    re.IGNORECASE,
)
# A strict upper bound: "less than 5", "< 5".
_BELOW = re.compile(r"(?:\bless than|\bfewer than|<(?!=))\s*(\d+)", re.IGNORECASE)
# "n must be 1 ...", "only n=1 is supported", "n should be 1".
_EXACTLY = re.compile(r"""\bn['"`]?\s*(?:must be|should be|can only be|==?)\s*(\d+)\b""", re.IGNORECASE)


def is_about_n(message: str) -> bool:
    """Whether an error message is about the `n` parameter."""
    return _ABOUT_N.search(message) is not None


def n_limit(message: str, asked: int) -> int | None:
    """The most samples per request to ask for after `message` refused `asked` of them; None if not about `n`.

    The cap the message states when it states one, else 1; always below `asked` (so a retry makes progress).
    """
    if asked <= 1 or not is_about_n(message):
        return None
    cap: int | None = None
    if match := _AT_MOST.search(message):
        cap = int(match.group(1))
    elif match := _BELOW.search(message):
        cap = int(match.group(1)) - 1
    elif match := _EXACTLY.search(message):
        cap = int(match.group(1))
    return max(1, min(cap if cap is not None else 1, asked - 1))
