"""What tokens cost: a price table shipped as data, overridable per run."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from selftaught.errors import ConfigError


@dataclass(frozen=True)
class Price:
    """US dollars per million input and output tokens."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


def _parse(table: Mapping[str, object], source: str) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    for model, entry in table.items():
        if not isinstance(entry, Mapping) or set(entry) != {"input", "output"} or not all(
            isinstance(entry[k], (int, float)) and not isinstance(entry[k], bool) and entry[k] >= 0
            for k in ("input", "output")
        ):
            raise ConfigError(f"{source}: price of {model!r} must be {{input = N, output = N}} in $ per 1M tokens")
        prices[str(model)] = Price(float(entry["input"]), float(entry["output"]))
    return prices


def price_table(overrides: Mapping[str, object] | None = None) -> dict[str, Price]:
    """The shipped prices, with `overrides` (from a run config's [prices] table) on top."""
    text = resources.files("selftaught.lm").joinpath("data", "prices.toml").read_text(encoding="utf-8")
    table = _parse(tomllib.loads(text)["prices"], "prices.toml")
    if overrides:
        table.update(_parse(overrides, "config [prices]"))
    return table


def price_for(table: Mapping[str, Price], model: str) -> Price | None:
    """The price of `model`, also matching dated variants (gpt-4o-2024-08-06 -> gpt-4o)."""
    if model in table:
        return table[model]
    best = max((m for m in table if model.startswith(m + "-")), key=len, default=None)
    return table[best] if best else None
