"""The reply-length model: how many tokens an LM reply to an improver's prompt is taken to have."""

from __future__ import annotations

import math

from selftaught.forecast._billing import Billing
from selftaught.forecast._range import Range

#: Tokens of prose expected around the code (the seed prompt asks to "propose an idea, then implement it").
PROSE_TOKENS = 150
#: How much longer than the program it rewrites an improved program is expected to be.
GROWTH = 1.5


def reply_tokens(rewritten: str, billing: Billing) -> Range:
    """Tokens of one sample that rewrites `rewritten` (P tokens): low ceil(P / 2) (a compact rewrite, no prose),
    expected ceil(1.5 P) + 150 (a longer program and an idea), high `max_tokens` (a provider's reply is cut there).
    Each is at most `max_tokens`. An offline backend has no token limit: its high is at least 2 P + 150."""
    tokens = int(billing.counter.text(rewritten).expected)
    cap = billing.max_tokens
    high = max(cap, 2 * tokens + PROSE_TOKENS) if billing.offline else cap
    return Range(min(cap, math.ceil(tokens / 2)), min(cap, math.ceil(GROWTH * tokens) + PROSE_TOKENS), high)
