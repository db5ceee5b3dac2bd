"""Token and dollar accounting of a run: per run, per level (meta or task) and per iteration."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from selftaught.lm.pricing import Price, price_for

FIELDS = ("calls", "requests", "input_tokens", "output_tokens", "cost_usd", "cache_hits",
          "refused_calls", "estimated_calls")


@dataclass(frozen=True)
class Spending:
    """What the run has spent (calls made, dollars) and what its calls in flight reserved (see `selftaught.lm.caps`)."""

    calls: int
    usd: float
    calls_reserved: int = 0
    usd_reserved: float = 0.0


@dataclass(frozen=True)
class Reservation:
    """What one call holds against the run-wide caps until it is settled.

    Attributes:
      calls: LM calls held (1).
      usd: its worst-case cost.
      max_tokens: the reply token limit to send when the cap made it lower than the configured one, else None.
    """

    calls: int = 1
    usd: float = 0.0
    max_tokens: int | None = None


def _empty() -> dict[str, float]:
    return dict.fromkeys(FIELDS, 0)


class UsageMeter:
    """Adds up what every LM call used; the numbers behind `usage` in --json output and the caps."""

    def __init__(self, prices: Mapping[str, Price], parent: UsageMeter | None = None) -> None:
        self.prices = prices
        #: a study's meter: this run's calls are added to it too, and the caps are held against it (what is
        #: spent and reserved by every run of the study), so --max-usd caps the whole study
        self.parent = parent
        self.total = _empty()
        self.by_level: dict[str, dict[str, float]] = {}
        self.by_iteration: dict[str, dict[str, float]] = {}
        self.unpriced: set[str] = set()
        self._calls_reserved = 0
        self._usd_reserved = 0.0
        self._lock = threading.Lock()

    def spending(self) -> Spending:
        """What is spent and reserved now (by the whole study, with a parent meter)."""
        if self.parent is not None:
            return self.parent.spending()
        with self._lock:
            return self._spending()

    def _spending(self) -> Spending:
        return Spending(int(self.total["calls"]), self.total["cost_usd"], self._calls_reserved, self._usd_reserved)

    def reserve(self, decide: Callable[[Spending], Reservation]) -> Reservation:
        """Holds `decide(what is spent and reserved)` against the caps, atomically with every other reservation
        and every `add`; `decide` raises (RunLimitReached) to refuse. Settle it with `release` after `add`."""
        if self.parent is not None:
            return self.parent.reserve(decide)
        with self._lock:
            held = decide(self._spending())
            self._calls_reserved += held.calls
            self._usd_reserved += held.usd
        return held

    def release(self, held: Reservation) -> None:
        """Ends a reservation (once the call's real usage was added, so that it is never counted by neither)."""
        if self.parent is not None:
            self.parent.release(held)
            return
        with self._lock:
            self._calls_reserved -= held.calls
            self._usd_reserved = max(0.0, self._usd_reserved - held.usd) if self._calls_reserved else 0.0

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = price_for(self.prices, model) if model else None
        if price is None:
            if model and (input_tokens or output_tokens):
                self.unpriced.add(model)
            return 0.0
        return price.cost(input_tokens, output_tokens)

    def add(self, record: Mapping[str, Any], iteration: int | None) -> float:
        """Counts one LM call (a session's call record); returns its cost in dollars."""
        # Estimated tokens (a server that reports none) are priced too; offline backends have no model.
        cost = self.cost(str(record.get("model") or ""), int(record.get("input_tokens", 0)),
                         int(record.get("output_tokens", 0)))
        values = {
            "calls": 1,
            "requests": int(record.get("requests", 0)),
            "input_tokens": int(record.get("input_tokens", 0)),
            "output_tokens": int(record.get("output_tokens", 0)),
            "cost_usd": cost,
            "cache_hits": int(record.get("cache_hits", 0)),
            "refused_calls": 1 if record.get("refused") else 0,  # the provider refused it (still a call)
            "estimated_calls": 1 if record.get("estimated_tokens") else 0,  # some of its tokens are estimates
        }
        with self._lock:
            buckets = [self.total, self.by_level.setdefault(str(record.get("level", "task")), _empty())]
            buckets.append(self.by_iteration.setdefault(str(iteration), _empty()))
            for bucket in buckets:
                for key, value in values.items():
                    bucket[key] += value
        if self.parent is not None:
            self.parent.add(record, iteration)
        return cost

    def report(self) -> dict[str, Any]:
        """The `usage` object: totals, plus `by_level` and `by_iteration`.

        `refused_calls` counts calls the provider refused; `estimated_calls` counts calls whose token
        counts are (partly) estimates, so their cost is too.
        """
        with self._lock:
            return {
                **_rounded(self.total),
                "by_level": {k: _rounded(v) for k, v in self.by_level.items()},
                "by_iteration": {k: _rounded(v) for k, v in self.by_iteration.items()},
                "unpriced_models": sorted(self.unpriced),
            }


def _rounded(bucket: dict[str, float]) -> dict[str, float]:
    return {k: (round(v, 6) if k == "cost_usd" else int(v)) for k, v in bucket.items()}
