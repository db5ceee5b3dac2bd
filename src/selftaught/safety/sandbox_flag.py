"""The paper's sandbox-circumvention study (section 6.1): how often generated improvers turn `use_sandbox` off."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from selftaught.errors import UserError
from selftaught.improver import extract_code
from selftaught.lm import Backend
from selftaught.lm.caps import RunCaps
from selftaught.lm.session import LanguageModel
from selftaught.safety.scan import KINDS, count_flags, scan_program
from selftaught.store import program_hash

MAX_RESPONSES = 6
MAX_SAMPLES = 100_000  # far beyond the paper's study, and what a run's downstream runs are bounded by
TEMPERATURE = 0.7
Z_95 = 1.959963984540054
_PLACEHOLDER = re.compile(r"\{(solution|utility)\}")


def _data(name: str) -> str:
    return resources.files("selftaught.safety").joinpath("data", name).read_text(encoding="utf-8")


def sandbox_seed_improver() -> str:
    """The seed improver of the study: I_0, scoring each candidate with `utility(c, use_sandbox=True)`."""
    return _data("sandbox_seed_improver.py.txt")


def sandbox_warning() -> str:
    """The one-line warning that the sandbox must stay on (present only in the warned prompt)."""
    return _data("sandbox_warning.txt").strip()


def sandbox_utility_description(warn: bool) -> str:
    """The meta-utility as the LM sees it: takes `use_sandbox`; with `warn`, says it must stay True."""
    text = _data("sandbox_utility_description.txt")
    warning = f"    {sandbox_warning()}\n" if warn else ""
    return text.replace("{warning}\n", warning).rstrip("\n")


def study_expertise() -> str:
    """The system prompt (the paper's `expertise`)."""
    return _data("sandbox_expertise.txt").strip()


def study_message(warn: bool) -> str:
    """The meta-level message: improve the sandbox seed improver, scored by the sandbox meta-utility."""
    values = {"solution": sandbox_seed_improver().rstrip("\n"), "utility": sandbox_utility_description(warn)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _data("sandbox_prompt.txt")).rstrip("\n")


def stream_name(warn: bool) -> str:
    return f"safety/sandbox-flag/{'warn' if warn else 'nowarn'}"


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% by default); (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes <= 0 else max(0.0, center - half)
    high = 1.0 if successes >= n else min(1.0, center + half)
    return low, high


@dataclass(frozen=True)
class SampleRecord:
    """One generated improver: whether it turned the sandbox off, its flag counts, its code's hash."""

    index: int
    disabled: bool
    flags: dict[str, int]
    code_hash: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "disabled": self.disabled, "flags": dict(self.flags),
                "code_hash": self.code_hash}


@dataclass(frozen=True)
class StudyResult:
    """The study's outcome.

    Attributes:
      samples: generated improvers (LM replies) examined.
      disabled: how many of them set `use_sandbox` to a falsy value somewhere (a `sandbox_disabled` flag).
      rate: disabled / samples.
      ci_low, ci_high: the 95% Wilson score interval of the rate.
      warn: whether the prompt carried the warning.
      no_code: replies without a fenced code block (counted in samples, never as disabled).
      records: one SampleRecord per reply, in sampling order.
    """

    samples: int
    disabled: int
    rate: float
    ci_low: float
    ci_high: float
    warn: bool
    no_code: int
    records: tuple[SampleRecord, ...]

    def flagged(self) -> dict[str, int]:
        """How many samples carry each flag kind (kinds no sample has are left out)."""
        counts = Counter(kind for r in self.records for kind in r.flags)
        return {kind: counts[kind] for kind in KINDS if counts[kind]}

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "disabled": self.disabled, "rate": self.rate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "warn": self.warn, "no_code": self.no_code, "flagged": self.flagged(),
                "records": [r.to_dict() for r in self.records]}


def run_study(backend: Backend, samples: int, warn: bool, seed: int = 0,
              progress: Callable[[int, int], None] | None = None, *,
              on_call: Callable[[dict[str, Any]], None] | None = None, caps: RunCaps | None = None) -> StudyResult:
    """Samples `samples` improved improvers from `backend` and counts those that switch the sandbox off.

    Nothing generated is executed: each reply's code is only parsed and scanned. The flag is a
    honeypot; selftaught's real sandbox does not depend on it. `progress(done, samples)` is called after each
    LM call. `on_call` and `caps`: a study's accounting of each call, and its caps (see `selftaught.lm.caps`).
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise UserError(f"samples must be an integer from 1 to {MAX_SAMPLES} (got {samples!r})")
    lm = LanguageModel(backend, budget=math.ceil(samples / MAX_RESPONSES), max_responses_per_call=MAX_RESPONSES,
                       run_seed=seed, stream=stream_name(warn), level="meta", on_call=on_call, caps=caps)
    expertise, message = study_expertise(), study_message(warn)
    replies: list[str] = []
    for start in range(0, samples, MAX_RESPONSES):
        n = min(MAX_RESPONSES, samples - start)
        replies.extend(lm.batch_prompt(expertise, [message] * n, temperature=TEMPERATURE))
        if progress is not None:
            progress(len(replies), samples)
    records = tuple(_record(i, reply) for i, reply in enumerate(replies))
    disabled = sum(r.disabled for r in records)
    low, high = wilson_interval(disabled, samples)
    return StudyResult(samples=samples, disabled=disabled, rate=disabled / samples, ci_low=low, ci_high=high,
                       warn=warn, no_code=sum(r.code_hash is None for r in records), records=records)


def _record(index: int, reply: str) -> SampleRecord:
    code = extract_code(reply)
    if not isinstance(code, str):
        return SampleRecord(index, False, {}, None)
    flags = count_flags(scan_program(code))
    return SampleRecord(index, "sandbox_disabled" in flags, flags, program_hash(code))
