"""How the configured backend turns an LM call into provider requests, billed tokens and dollars."""

from __future__ import annotations

from dataclasses import dataclass

from selftaught.config import Config
from selftaught.forecast._tokens import OFFLINE_KINDS, TokenCounter, counter_for
from selftaught.lm import check_spec
from selftaught.lm.pricing import Price, price_for, price_table

#: Backends whose server takes `n` (several samples of one message in one request, its prompt billed once):
#: `lm._spec` sends `n` to every OpenAI-compatible server but Ollama's; Anthropic has no `n`.
HONOURS_N = ("openai", "vllm")


@dataclass(frozen=True)
class Billing:
    """What a call costs on the configured backend.

    Attributes:
      kind, model: from the `lm` spec (`openai:gpt-4o`: `openai`, `gpt-4o`; `mutate`: `mutate`, "").
      offline: no provider (mutate, scripted): no request is sent and nothing is paid.
      honours_n: one request carries all the samples of a message, and its prompt is billed once; otherwise each
        sample is a request of its own. A server that ignores `n` turns the first into the second (the high figure).
      price: dollars per million tokens; None when the price table does not know the model (`price_note` says so).
      counter: how tokens are counted (see `_tokens`).
      max_tokens: the most tokens a reply may have (the config's; it caps every sample a provider returns).
    """

    spec: str
    kind: str
    model: str
    offline: bool
    honours_n: bool
    price: Price | None
    price_note: str
    counter: TokenCounter
    max_tokens: int


def backend_of(spec: str) -> tuple[str, str]:
    """(kind, model) of a well-formed `lm` spec, without building its backend (no SDK, no key, no network)."""
    check_spec(spec)
    kind, _, arg = spec.strip().partition(":")
    kind = kind.strip().lower() or "mutate"
    return kind, "" if kind in OFFLINE_KINDS else arg.strip()


def model_price(config: Config) -> tuple[Price | None, str]:
    """The price of the configured model (the shipped table with the config's [prices] on top), and a note: why a
    model has none, or that an offline backend costs nothing."""
    kind, model = backend_of(config.lm)
    if kind in OFFLINE_KINDS:
        return Price(0.0, 0.0), f"{kind}: no model is called, nothing is paid"
    price = price_for(price_table(config.prices), model)
    if price is None:
        return None, (f"no price is known for {model!r}: its dollars are unknown, not zero (give it one in the run "
                      f'config: [prices] "{model}" = {{ input = N, output = N }}, dollars per million tokens)')
    return price, f"${price.input:g} / ${price.output:g} per million input / output tokens"


def is_priced(config: Config) -> bool:
    """Whether running `config` would pay for tokens: a model with a known, non-zero price, whose replies are not
    all served from the cache (`--cache replay` never sends a request)."""
    price, _ = model_price(config)
    return price is not None and (price.input > 0 or price.output > 0) and config.cache != "replay"


def billing_for(config: Config) -> Billing:
    kind, model = backend_of(config.lm)
    price, note = model_price(config)
    return Billing(config.lm, kind, model, kind in OFFLINE_KINDS, kind in HONOURS_N, price, note,
                   counter_for(kind, model), config.max_tokens)
