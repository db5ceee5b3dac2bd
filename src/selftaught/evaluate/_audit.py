"""The runtime audit totals of an evaluation: the workers' own records, summed and sanitized."""

from __future__ import annotations

from collections import Counter
from typing import Any


class AuditTotals:
    """Sums the runtime records of the workers an evaluation used (they are cumulative per worker)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = {}
        self._current: dict[str, Any] = {}

    def see(self, reply: dict[str, Any]) -> None:
        """Keeps the latest record a worker sent (untrusted: sanitized)."""
        record = reply.get("audit")
        if isinstance(record, dict):
            self._current = record

    def fold(self) -> None:
        counts = self._current.get("counts")
        samples = self._current.get("samples")
        if isinstance(counts, dict):
            for kind, n in list(counts.items())[:50]:
                if isinstance(kind, str) and isinstance(n, int) and not isinstance(n, bool) and n > 0:
                    self.counts[kind[:40]] += min(n, 10**9)
        if isinstance(samples, dict):
            for kind, items in list(samples.items())[:50]:
                if isinstance(kind, str) and isinstance(items, list):
                    keep = self.samples.setdefault(kind[:40], [])
                    keep.extend(str(i)[:200] for i in items[: max(0, 5 - len(keep))] if isinstance(i, str))
        self._current = {}

    def record(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "samples": self.samples} if self.counts else {}
