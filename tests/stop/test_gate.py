"""The adoption gate's decision: at most alpha false adoptions of an equal improver, a better one adopted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selftaught.config import GATE_RUNS_MINIMUM, Config
from selftaught.stats import smallest_sign_flip_p
from selftaught.stop import GateDecision, recorded_gates
from selftaught.stop.compare import ALPHA, compare_scores
from selftaught.stop.gate import decide
from selftaught.stop.meta_utility import DownstreamRun, MetaScore, purpose_kind

INSTANCES = 10
TRIALS = 200


def binomial_upper(n: int, p: float, level: float = 0.999) -> int:
    """The smallest k with P(Binomial(n, p) <= k) >= level."""
    total = 0.0
    for k in range(n + 1):
        total += math.comb(n, k) * p ** k * (1 - p) ** (n - k)
        if total >= level:
            return k
    return n


def stand_in(rng: np.random.Generator, quality: float, difficulty: np.ndarray, runs: int, failing: float
             ) -> MetaScore:
    """An improver's `runs` downstream runs on val, as the stochastic stand-in utility scores them: each run's
    solution has its own quality (the LM samples' chance), each instance its difficulty (shared by both sides, as
    the gate's instances are), plus scoring noise; a run fails (no solution: the failure score 0) with `failing`."""
    out = []
    for index in range(runs):
        if rng.random() < failing:
            out.append(DownstreamRun("stand_in", index, 0.0, None, "exception", 1, 0))
            continue
        solution = quality + rng.normal(0, 0.12)
        scores = np.clip(solution - difficulty + rng.normal(0, 0.05, difficulty.size), 0, 1)
        out.append(DownstreamRun("stand_in", index, float(scores.mean()), None, None, 1, 1,
                                 val_instances=tuple(float(s) for s in scores)))
    return MetaScore(sum(r.val for r in out) / runs, None, tuple(out))


def gate_trial(rng: np.random.Generator, gain: float, failing: float = 0.1) -> GateDecision:
    """The gate on the default gate runs: the incumbent against a candidate `gain` better per solution."""
    runs = Config().gate_runs
    difficulty = rng.uniform(0, 0.3, INSTANCES)
    quality = rng.uniform(0.4, 0.7)
    incumbent = stand_in(rng, quality, difficulty, runs, failing)
    candidate = stand_in(rng, quality + gain, difficulty, runs, failing)
    return decide(compare_scores("stand_in", "val", incumbent, candidate), "a" * 16, "b" * 16)


def test_an_equal_improver_is_adopted_no_more_often_than_alpha_allows() -> None:
    rng = np.random.default_rng(20240518)
    decisions = [gate_trial(rng, gain=0.0) for _ in range(TRIALS)]
    adopted = sum(d.adopted for d in decisions)
    assert adopted <= binomial_upper(TRIALS, ALPHA)  # the 99.9% bound of Binomial(200, 0.05): 21
    # the test is not vacuous: the A/A p-values spread over (0, 1], some below alpha in either direction
    assert min(d.p_value for d in decisions) < ALPHA and max(d.p_value for d in decisions) > 0.5


def test_a_truly_better_improver_is_adopted() -> None:
    # better by 0.3 per solution, whose quality varies by 0.12 from run to run (failed runs, whose failure score is
    # an outlier a sign-flip test over 8 runs rarely outweighs, cut the power: see docs/statistics.md)
    rng = np.random.default_rng(7)
    decisions = [gate_trial(rng, gain=0.3, failing=0.0) for _ in range(100)]
    assert sum(d.adopted for d in decisions) >= 90
    assert all(d.difference.mean > 0 for d in decisions if d.adopted)


def test_a_worse_improver_is_never_adopted() -> None:
    rng = np.random.default_rng(11)
    assert not any(gate_trial(rng, gain=-0.3, failing=0.0).adopted for _ in range(50))


def test_the_default_gate_runs_can_reach_alpha_and_the_minimum_is_the_fewest_that_can() -> None:
    assert smallest_sign_flip_p(Config().gate_runs) < ALPHA
    assert smallest_sign_flip_p(GATE_RUNS_MINIMUM) < ALPHA <= smallest_sign_flip_p(GATE_RUNS_MINIMUM - 1)
    assert smallest_sign_flip_p(Config().downstream_runs) >= ALPHA  # why the gate has runs of its own


def test_a_decision_is_recorded_with_its_evidence_and_read_back_the_same() -> None:
    decision = gate_trial(np.random.default_rng(3), gain=0.3, failing=0.0)
    record = decision.record()
    assert record["adopted"] is decision.adopted and record["p_value"] == decision.p_value
    assert record["gate_runs"] == len(record["candidate_runs"]) == len(record["incumbent_runs"]) == Config().gate_runs
    low, high = record["difference"]["low"], record["difference"]["high"]
    assert low <= record["difference"]["mean"] <= high
    assert GateDecision.from_record(record) == decision
    assert GateDecision.from_record(record).record() == record  # type: ignore[union-attr]
    broken = record | {"adopted": "yes"}
    assert GateDecision.from_record(broken) is None
    events = [{"kind": "iteration", "iteration": 2, "gate": record}, {"kind": "iteration", "iteration": 1},
              {"kind": "iteration", "iteration": 3, "gate": broken},
              {"kind": "lm_call", "iteration": 4, "gate": record}]
    assert recorded_gates(events) == {2: decision}


def test_gate_purposes_are_per_step_and_record_their_kind() -> None:
    assert purpose_kind("gate/3") == "gate" and purpose_kind("measure") == "measure"
    for bad in ("gate", "gate/x", "measure/1", "nonsense"):
        with pytest.raises(ValueError):
            purpose_kind(bad)
