"""From a plan to figures: the calls, requests, samples and tokens of each work, and its critical path."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from selftaught.forecast._billing import Billing
from selftaught.forecast._plan import Work
from selftaught.forecast._range import ZERO, Range
from selftaught.forecast._replies import reply_tokens
from selftaught.forecast._trace import Trace

NAMES = ("calls", "requests", "samples", "input_tokens", "output_tokens")


@dataclass(frozen=True)
class Figures:
    """LM calls, provider requests, samples (replies), input and output tokens, each low / expected / high."""

    calls: Range = ZERO
    requests: Range = ZERO
    samples: Range = ZERO
    input_tokens: Range = ZERO
    output_tokens: Range = ZERO

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __mul__(self, factor: Range | float) -> Figures:
        return Figures(*(getattr(self, f.name) * factor for f in fields(self)))

    def record(self) -> dict[str, dict[str, float]]:
        return {name: getattr(self, name).ints().record() for name in NAMES}


def traced(trace: Trace, rewritten: str, billing: Billing) -> Figures:
    """What one run that asks exactly `trace` uses. A request's prompt is billed once when the backend takes `n`
    (high: once per sample, for a server that ignores it), once per sample otherwise; offline, no request is sent."""
    out = Figures()
    reply = reply_tokens(rewritten, billing)
    for call in trace.calls:
        requests, prompts = ZERO, ZERO
        for request in call.requests:
            prompt = billing.counter.prompt(request.system, request.message)
            n = request.samples
            if billing.offline:  # an offline backend records its prompt for each sample, and sends nothing
                prompts += prompt * n
            elif billing.honours_n:
                requests += Range(1, 1, n)
                prompts += Range(prompt.low, prompt.expected, prompt.high * n)
            else:
                requests += Range.of(n)
                prompts += prompt * n
        out += Figures(Range.of(1), requests, Range.of(call.samples), prompts, reply * call.samples)
    return out


def _budgeted(work: Work, billing: Billing) -> Figures:
    """The most one run of generated code may use: `lm_budget` calls of `max_responses` samples, each sample a
    request of its own whose prompt is the seed's largest with one earlier reply in it (no budget caps a
    prompt's length: this is the model's assumption), each reply `max_tokens` long."""
    samples = work.lm_budget * work.max_responses
    reply = reply_tokens(work.rewritten, billing).high
    largest = work.trace.largest_prompt()
    prompt = billing.counter.prompt(largest.system, largest.message).high if largest is not None else 0
    return Figures(Range.of(work.lm_budget), Range.of(0 if billing.offline else samples), Range.of(samples),
                   Range.of(samples * (prompt + reply)), Range.of(samples * reply))


def per_run(work: Work, billing: Billing) -> tuple[Figures, Range]:
    """One run's figures and its sequential LM calls. The seed improver's runs ask exactly its trace; a generated
    improver's lie between nothing (low) and its budgets (high), and are expected to ask what the seed would."""
    seed = traced(work.trace, work.rewritten, billing)
    calls = len(work.trace.calls)
    if work.fixed:
        return seed, Range.of(calls)
    most = _budgeted(work, billing)
    mixed = Figures(*(Range(0, getattr(seed, f.name).expected, getattr(most, f.name).high) for f in fields(seed)))
    return mixed, Range(0, calls, work.lm_budget)


def work_figures(work: Work, billing: Billing) -> Figures:
    return per_run(work, billing)[0] * work.runs


def work_rounds(work: Work, billing: Billing, concurrency: int) -> Range:
    """The work's critical path in sequential LM calls: its batches one after another, each in waves of
    `concurrency` runs at once (the meta-utility's pool), each run's calls one after another."""
    waves = math.ceil(work.runs_per_batch / max(1, concurrency))
    return work.batches * waves * per_run(work, billing)[1]
