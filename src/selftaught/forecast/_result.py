"""The estimate: per part and in total, LM calls, requests, samples, tokens, dollars and wall-clock, low..high."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from selftaught.config import Config
from selftaught.forecast._billing import Billing, billing_for
from selftaught.forecast._figures import Figures, work_figures, work_rounds
from selftaught.forecast._plan import PartPlan
from selftaught.forecast._range import ZERO, Range
from selftaught.forecast._replies import GROWTH, PROSE_TOKENS
from selftaught.lm.pricing import Price

#: How the figures are made, said with every estimate.
ASSUMPTIONS = (
    "low: only what the seed improver's code fixes (I_0 makes one batch_prompt of min(max_responses_per_call, "
    "utility budget) samples per run, and scores each); generated improvers (I_1..I_T, candidates, a given "
    "improver file) are unknown code and may make no call at all",
    "expected: each generated improver calls the LM as the seed improver does; a step's candidates are as many as "
    "I_0 scores",
    "high: the budgets, which are caps: every run of generated code makes lm_budget calls of max_responses_per_call "
    "samples, each its own request, and a step scores meta_utility_budget candidates; its prompts are taken to be the "
    "seed's with one earlier reply in them (no budget caps a prompt's length)",
    f"replies (output tokens): low half the program they rewrite, expected {GROWTH:g} times it plus "
    f"{PROSE_TOKENS} tokens of prose, high max_tokens (each at most max_tokens)",
    "wall-clock: LM latency only, on the critical path: a call's requests go at once, an improver's calls one "
    "after another, a meta-utility's downstream runs in waves of `concurrency`, candidates one after another; "
    "transfer tasks and compared improvers at once; parts and repeats one after another. Scoring candidates on "
    "the CPU adds to it",
    "no cache hits: a reply found in the LM cache costs no request, token or dollar, so a cache only lowers these",
)


@dataclass(frozen=True)
class ItemEstimate:
    """One work of a part (e.g. "I_0 measured"): its improver runs and what they use (per repeat of the part).
    `fixed`: the seed improver's runs, whose calls, requests and samples its code fixes."""

    name: str
    level: str
    fixed: bool
    runs: Range
    figures: Figures

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "level": self.level, "fixed": self.fixed, "improver_runs": self.runs.record(),
                **self.figures.record()}


@dataclass(frozen=True)
class PartEstimate:
    """One part of a study (a run, a transfer, a comparison, a safety study), `repeats` times over: `figures`,
    `usd` and `wall_seconds` count every repeat, `items` one."""

    name: str
    repeats: int
    items: tuple[ItemEstimate, ...]
    figures: Figures
    usd: Range | None
    wall_seconds: Range
    notes: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "repeats": self.repeats, **self.figures.record(), "usd": _usd(self.usd),
                "wall_seconds": self.wall_seconds.record(1), "items": [i.record() for i in self.items],
                "notes": list(self.notes)}


@dataclass(frozen=True)
class Estimate:
    """What a command would ask of the LM, priced, without contacting any model.

    Attributes:
      command: what is estimated (`run`, `transfer`, `compare`, `reproduce`, ...).
      lm: the `lm` spec; `price` its dollars per million tokens (None: unknown, and `usd` is None), `price_note` why.
      token_counter: how the tokens were counted (the model's tokenizer, or the stated estimate).
      latency, concurrency: the wall-clock's inputs (seconds per request; downstream runs at once).
      parts: per part; `total`, `usd`, `wall_seconds`: the whole.
      max_usd: the run's dollar cap, if any (it stops the run cleanly once reached).
      assumptions: how the figures are made (ASSUMPTIONS).
    """

    command: str
    lm: str
    price: Price | None
    price_note: str
    token_counter: str
    latency: float
    concurrency: int
    parts: tuple[PartEstimate, ...]
    total: Figures
    usd: Range | None
    wall_seconds: Range
    max_usd: float | None = None
    assumptions: tuple[str, ...] = ASSUMPTIONS

    @property
    def priced(self) -> bool:
        """Whether the model has a known, non-zero price (running it pays for tokens)."""
        return self.price is not None and (self.price.input > 0 or self.price.output > 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what `--estimate --json` prints)."""
        price = None if self.price is None else {"input": self.price.input, "output": self.price.output}
        return {"estimate": self.command, "lm": self.lm, "price_per_million_tokens": price,
                "price_note": self.price_note, "token_counter": self.token_counter,
                "latency_seconds": self.latency, "concurrency": self.concurrency, "max_usd": self.max_usd,
                "total": {**self.total.record(), "usd": _usd(self.usd), "wall_seconds": self.wall_seconds.record(1)},
                "parts": [p.record() for p in self.parts], "assumptions": list(self.assumptions)}


def _usd(usd: Range | None) -> dict[str, float] | None:
    return None if usd is None else usd.record(4)


def _dollars(figures: Figures, price: Price | None) -> Range | None:
    if price is None:
        return None
    t_in, t_out = figures.input_tokens, figures.output_tokens
    return Range(price.cost(int(t_in.low), int(t_out.low)), price.cost(int(t_in.expected), int(t_out.expected)),
                 price.cost(int(t_in.high), int(t_out.high)))


def _part(plan: PartPlan, billing: Billing, config: Config, latency: float) -> PartEstimate:
    items, rounds = [], ZERO
    for work in plan.works:
        items.append(ItemEstimate(work.name, work.level, work.fixed, work.runs, work_figures(work, billing)))
        path = work_rounds(work, billing, config.concurrency)
        rounds = rounds.widest(path) if plan.overlap else rounds + path
    figures = sum((i.figures for i in items), Figures()) * plan.repeats
    return PartEstimate(plan.name, plan.repeats, tuple(items), figures, _dollars(figures, billing.price),
                        rounds * (latency * plan.repeats), plan.notes)


def assemble(command: str, plans: Sequence[PartPlan], config: Config, latency: float) -> Estimate:
    """The estimate of `plans` (run one after another) on `config`'s backend, at `latency` seconds per request."""
    billing = billing_for(config)
    parts = tuple(_part(plan, billing, config, latency) for plan in plans)
    total = sum((p.figures for p in parts), Figures())
    wall = sum((p.wall_seconds for p in parts), ZERO)
    return Estimate(command, config.lm, billing.price, billing.price_note, billing.counter.name, latency,
                    config.concurrency, parts, total, _dollars(total, billing.price), wall, config.max_usd)

