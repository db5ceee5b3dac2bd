"""The adoption gate (`run --adopt better`): I_t replaces I_{t-1} only when fresh paired runs show it is better."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from selftaught.stats import Interval
from selftaught.stop.compare import ALPHA, Comparison, compare_scores, p_text, paired_scores
from selftaught.stop.meta_utility import MetaUtility
from selftaught.store import program_hash

SPLIT = "val"  # the gate decides on val: the test split stays out of every decision the loop makes


@dataclass(frozen=True)
class GateDecision:
    """Whether step t adopted its improver I_t (the candidate) over I_{t-1} (the incumbent), and on what evidence.

    Attributes:
      adopted: the paired comparison of the candidate against the incumbent on fresh val runs (purpose `gate/<t>`)
        says the candidate is better: the verdict `selftaught compare` gives (p < ALPHA by the sign-flip test over
        the downstream runs, and a 95% interval of the difference above 0).
      incumbent, candidate: the two improvers' hashes.
      p_value: the two-sided sign-flip p over the runs' paired differences.
      difference: candidate - incumbent, with its paired nested-bootstrap 95% interval.
      runs: the gate's downstream runs per side (`gate_runs`); `smallest_p` the smallest p they allow.
      incumbent_runs, candidate_runs: each side's run scores, in run order.
    """

    adopted: bool
    incumbent: str
    candidate: str
    p_value: float
    difference: Interval
    runs: int
    smallest_p: float
    incumbent_runs: tuple[float, ...]
    candidate_runs: tuple[float, ...]

    def line(self) -> str:
        """One line for people: the decision and its figures."""
        d = self.difference
        what = "adopted I_t" if self.adopted else "kept I_{t-1} (I_t not shown better)"
        return (f"gate: {what}: I_t - I_{{t-1}} = {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}], {p_text(self.p_value)}, "
                f"{self.runs} fresh val runs each, alpha {ALPHA}")

    def record(self) -> dict[str, Any]:
        return {"adopted": self.adopted, "incumbent": self.incumbent, "candidate": self.candidate, "split": SPLIT,
                "gate_runs": self.runs, "alpha": ALPHA, "p_value": round(self.p_value, 6),
                "smallest_p": round(self.smallest_p, 6), "difference": self.difference.record(),
                "incumbent_runs": [round(v, 6) for v in self.incumbent_runs],
                "candidate_runs": [round(v, 6) for v in self.candidate_runs], "decision": self.line()}

    @classmethod
    def from_record(cls, record: Any) -> GateDecision | None:
        """The decision a record holds (None when it is not a whole, well-formed one)."""
        try:
            d = record["difference"]
            decision = cls(
                adopted=_flag(record["adopted"]), incumbent=str(record["incumbent"]),
                candidate=str(record["candidate"]), p_value=_number(record["p_value"]),
                difference=Interval(_number(d["mean"]), _number(d["low"]), _number(d["high"]), int(d["n"]),
                                    _number(d["level"])),
                runs=int(record["gate_runs"]), smallest_p=_number(record["smallest_p"]),
                incumbent_runs=tuple(_number(v) for v in record["incumbent_runs"]),
                candidate_runs=tuple(_number(v) for v in record["candidate_runs"]))
        except (KeyError, TypeError, ValueError):
            return None
        return decision


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"not a flag: {value!r}")
    return value


def adopts(comparison: Comparison) -> bool:
    """The gate's rule on a comparison of the incumbent (A) and the candidate (B): adopt B only when it is
    significantly better (p < ALPHA and the difference's interval above 0: `Comparison.significant`)."""
    return comparison.significant and comparison.difference.mean > 0


def decide(comparison: Comparison, incumbent: str, candidate: str) -> GateDecision:
    """The decision on a comparison (A: the incumbent, B: the candidate), for programs hashed `incumbent`,
    `candidate`."""
    p = comparison.p_value if not math.isnan(comparison.p_value) else 1.0
    d = comparison.difference
    # Kept as recorded (rounded): a resumed run rebuilds the decision from its record and records it identically
    return GateDecision(adopts(comparison), incumbent, candidate, round(p, 6),
                        Interval(round(d.mean, 6), round(d.low, 6), round(d.high, 6), d.n, d.level),
                        len(comparison.runs_a), round(comparison.smallest_p, 6), _rounded(comparison.runs_a),
                        _rounded(comparison.runs_b))


def _rounded(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(round(v, 6) for v in values)


def run_gate(meta: MetaUtility, step: int, incumbent: str, candidate: str, runs: int) -> GateDecision:
    """Step `step`'s gate: both improvers' `runs` downstream runs on val (purpose `gate/<step>`: LM samples neither
    the selection, the measurement nor an earlier gate drew), compared run by run and instance by instance."""
    task = meta.tasks[0].name
    score_a, score_b = paired_scores(meta, incumbent, candidate, purpose=f"gate/{step}", with_test=False, runs=runs,
                                     labels=(f"[I_{step}] gate, I_{step - 1}: ", f"[I_{step}] gate, I_{step}: "))
    return decide(compare_scores(task, SPLIT, score_a, score_b), program_hash(incumbent), program_hash(candidate))


def recorded_gates(events: Iterable[dict[str, Any]]) -> dict[int, GateDecision]:
    """Step -> the gate decision its `iteration` event recorded (what a resumed run keeps, not recomputes)."""
    out: dict[int, GateDecision] = {}
    for event in events:
        step = event.get("iteration")
        if event.get("kind") == "iteration" and isinstance(step, int) and "gate" in event:
            decision = GateDecision.from_record(event["gate"])
            if decision is not None:
                out[step] = decision
    return out
