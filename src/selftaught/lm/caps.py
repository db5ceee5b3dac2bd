"""Run-wide caps (--max-calls, --max-usd), enforced before each LM call by reserving the call's worst case.

A call reserves, before it is sent, the most it can cost: its prompt tokens (estimated generously) and
`max_tokens` for every sample, at the model's price. Calls in flight hold their reservations together, under
the usage meter's lock, so concurrent calls (a batch's messages, overlapping improver runs) cannot jointly
overshoot `--max-usd`. When what is left cannot cover a call, its `max_tokens` is lowered to what is left,
down to MIN_REPLY_TOKENS; below that the run stops (RunLimitReached). When the call returns, its real usage
is added and its reservation released. `--max-calls` counts calls in flight the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from selftaught.errors import ConfigError, RunLimitReached
from selftaught.lm._base import CompletionRequest
from selftaught.lm.pricing import Price, price_for
from selftaught.lm.usage import Reservation, Spending, UsageMeter

if TYPE_CHECKING:
    from selftaught.config import Config

#: The fewest reply tokens a lowered `max_tokens` may leave (or the configured max_tokens, if smaller): below
#: it, a reply could not hold a useful program, so the run stops instead.
MIN_REPLY_TOKENS = 256
#: Prompt tokens reserved per message beyond its text (a chat template's role markers).
TEMPLATE_TOKENS = 16


def reserved_prompt_tokens(request: CompletionRequest) -> int:
    """A generous count of one sample's prompt tokens: UTF-8 bytes / 3 (tokenizers average 3.5 to 4 bytes a
    token on English and code), plus a chat template's overhead for the system and user messages."""
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in (request.system, request.message))
    return size // 3 + 1 + 2 * TEMPLATE_TOKENS


@dataclass(frozen=True)
class RunCaps:
    """The run-wide caps of one run, held against its usage meter.

    Attributes:
      meter: the run's usage (what is spent, and the reservations of calls in flight).
      max_calls, max_usd: the caps (None: none).
      max_tokens: the configured reply token limit (the worst case of one sample).
      price: the model's price (None for a model without one: offline backends, which cost nothing).
    """

    meter: UsageMeter
    max_calls: int | None
    max_usd: float | None
    max_tokens: int
    price: Price | None

    @classmethod
    def for_model(cls, meter: UsageMeter, config: Config, model: str) -> RunCaps:
        """The caps of `config` for calls to `model`; a dollar cap on a model without a price is refused
        (it would count that model's calls as free: no cap at all)."""
        price = price_for(meter.prices, model) if model else None
        if config.max_usd is not None and model and price is None:
            raise ConfigError(f"--max-usd {config.max_usd:g} cannot be enforced: no price is known for model "
                              f'{model!r}; give it one in the run config: [prices] "{model}" = '
                              "{ input = N, output = N } (dollars per million tokens; 0 for a free model)")
        return cls(meter, config.max_calls, config.max_usd, config.max_tokens, price)

    def check(self) -> None:
        """Stops the run (RunLimitReached) if a cap is reached by what was spent and is reserved."""
        self.meter.release(self.meter.reserve(lambda spent: self._decide(spent, [], lambda n: n)))

    def reserve(self, requests: Sequence[CompletionRequest],
                prompt_copies: Callable[[int], int] = lambda n: n) -> Reservation:
        """Holds one call's worst case (the requests of its groups), lowering max_tokens if the dollar cap
        requires it; RunLimitReached if the caps leave no room for it. `release` it once its usage is added.

        `prompt_copies(n)`: at most how many times a request's prompt is billed for its n samples (the
        backend's `prompt_copies`; n when each sample may go out as a request of its own).
        """
        return self.meter.reserve(lambda spent: self._decide(spent, requests, prompt_copies))

    def release(self, held: Reservation) -> None:
        self.meter.release(held)

    def _decide(self, spent: Spending, requests: Sequence[CompletionRequest],
                prompt_copies: Callable[[int], int]) -> Reservation:
        calls = 1 if requests else 0  # `check` asks whether one more call would fit, and holds nothing
        if self.max_calls is not None and spent.calls + spent.calls_reserved >= self.max_calls:
            flight = f", {spent.calls_reserved} in flight" if spent.calls_reserved else ""
            raise RunLimitReached(f"--max-calls {self.max_calls} reached ({spent.calls} LM calls made{flight})",
                                  "max_calls", self.max_calls)
        if self.max_usd is None:
            return Reservation(calls, 0.0)
        if spent.usd >= self.max_usd:
            raise RunLimitReached(f"--max-usd {self.max_usd:g} reached (${spent.usd:.4f} spent)", "max_usd",
                                  self.max_usd)
        if self.price is None or not requests:
            return Reservation(calls, 0.0)
        samples = sum(r.n for r in requests)
        prompt = sum(reserved_prompt_tokens(r) * min(r.n, max(1, prompt_copies(r.n))) for r in requests)
        worst = self.price.cost(prompt, self.max_tokens * samples)
        left = self.max_usd - spent.usd - spent.usd_reserved
        if worst <= left:
            return Reservation(calls, worst)
        per_token = self.price.output * samples / 1_000_000
        room = left - self.price.cost(prompt, 0)
        tokens = self.max_tokens if per_token == 0 else math.floor(room / per_token) if room > 0 else 0
        least = min(MIN_REPLY_TOKENS, self.max_tokens)
        if room < 0 or tokens < least:
            reserved = f", ${spent.usd_reserved:.4f} reserved by calls in flight" if spent.usd_reserved else ""
            raise RunLimitReached(
                f"--max-usd {self.max_usd:g} reached: ${spent.usd:.4f} spent{reserved}, ${max(left, 0):.4f} left, "
                f"less than the next call may cost (${self.price.cost(prompt, least * samples):.4f} for "
                f"{samples} repl{'y' if samples == 1 else 'ies'} of up to {least} tokens)", "max_usd", self.max_usd)
        tokens = min(tokens, self.max_tokens)
        return Reservation(calls, self.price.cost(prompt, tokens * samples), tokens)
