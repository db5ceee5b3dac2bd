"""What an evaluation records, without running a program: its limits, its JSON record and journal round trip, the
worker's seed, and the audit totals a hostile worker feeds (sanitized)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from selftaught.evaluate import (
    AuditTotals,
    Evaluation,
    InstanceOutcome,
    cpu_budget_for,
    deadline_for,
    evaluation_from_json,
    evaluation_record,
    evaluation_to_json,
    limits_of,
    worker_seed,
)
from support import SumTask


class OddLimitsTask(SumTask):
    """Limits with more decimals than the record keeps."""

    name = "odd_limits"
    split_sizes: Mapping[str, int] = {"val": 4, "test": 4}
    time_limit = 0.1234  # a backstop of 1.1234 s (the extra second dominates)
    load_time_limit = 2.0004  # a backstop of 6.0012 s (three times the limit dominates)
    max_output_bytes = 777


def test_the_deadline_is_every_backstop_plus_a_quarter_second_per_instance_and_ten_seconds() -> None:
    task = OddLimitsTask()
    assert deadline_for(task, 0) == pytest.approx(6.0012 + 10.0)
    assert deadline_for(task, 4) == pytest.approx(6.0012 + 4 * (1.1234 + 0.25) + 10.0)


def test_the_cpu_budget_is_every_limit_plus_five_hundredths_per_instance_and_a_second() -> None:
    task = OddLimitsTask()
    assert cpu_budget_for(task, 0) == pytest.approx(2.0004 + 1.0)
    assert cpu_budget_for(task, 4) == pytest.approx(2.0004 + 4 * (0.1234 + 0.05) + 1.0)


def test_the_recorded_limits_are_the_applied_ones_to_the_millisecond() -> None:
    assert limits_of(OddLimitsTask(), 12.34567, 5.20449) == {
        "time_limit": 0.1234, "load_time_limit": 2.0004, "backstop": 1.123, "load_backstop": 6.001,
        "deadline": 12.346, "cpu_budget": 5.204, "max_output_bytes": 777,
    }


def test_a_programs_worker_seed_is_stable_across_versions() -> None:
    # Golden values: a run records the seed its programs' workers got, and `selftaught score --seed` must give a
    # program the same random state later, so this derivation must never change.
    program = "def algorithm(a):\n    return 0\n"
    assert worker_seed(0, program) == 3574366022
    assert worker_seed(7, program) == 3936308267
    assert worker_seed(0, None) == 3211546976


def _evaluation(**changes: object) -> Evaluation:
    outcomes = (
        InstanceOutcome(0.12345678, 0.2, flags=("above_max",), wall=0.3),
        InstanceOutcome(0.0, 0.0, "exception", "ValueError: no", wall=0.01),
        InstanceOutcome(1.0, 0.05, flags=("lax_would_accept", "above_max")),
    )
    fields: dict[str, object] = dict(
        task="sum", split="val", score=0.37448559, duration=1.23456789, detail="ValueError: no", outcomes=outcomes,
        failures={"exception": 1}, flags={"above_max": 2, "lax_would_accept": 1},
        audit={"counts": {"subprocess": 2}, "samples": {"subprocess": ["ls"]}}, load_time=0.43219,
        limits={"time_limit": 0.5}, clock="scripted",
    )
    fields.update(changes)
    return Evaluation(**fields)  # type: ignore[arg-type]


def test_the_record_summarizes_an_evaluation_for_the_run_store() -> None:
    assert evaluation_record(_evaluation()) == {
        "task": "sum", "split": "val", "score": 0.37448559, "duration": 1.2346, "failure": None,
        "failures": {"exception": 1}, "flags": {"above_max": 2, "lax_would_accept": 1},
        "audit": {"subprocess": 2}, "instances": 3, "instance_scores": [0.123457, 0.0, 1.0],
        "detail": "ValueError: no", "load_time": 0.4322, "limits": {"time_limit": 0.5}, "deadline_hit": False,
        "clock": "scripted",
    }


def test_the_record_keeps_the_last_500_characters_of_a_long_detail_and_a_missing_load_time() -> None:
    detail = "x" * 600 + "y" * 500
    record = evaluation_record(_evaluation(detail=detail, load_time=None, audit={}, failure="timeout",
                                           deadline_hit=True))
    assert record["detail"] == "y" * 500
    assert record["load_time"] is None and record["audit"] == {}
    assert record["failure"] == "timeout" and record["deadline_hit"] is True


def test_an_evaluation_survives_the_journal_round_trip_through_json() -> None:
    original = _evaluation()
    data = json.loads(json.dumps(evaluation_to_json(original)))
    assert evaluation_from_json(data) == original
    assert evaluation_from_json(data).outcomes[2].flags == ("lax_would_accept", "above_max")


def test_reading_back_something_that_is_not_an_evaluation_raises() -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        evaluation_from_json({"task": "sum", "split": "val"})
    with pytest.raises((KeyError, TypeError, ValueError)):
        evaluation_from_json({**evaluation_to_json(_evaluation()), "extra": 1})


def _folded(*records: object) -> AuditTotals:
    """The totals after each record was a worker's last (cumulative) audit record."""
    totals = AuditTotals()
    for record in records:
        totals.see({"op": "result", "audit": record})
        totals.fold()
    return totals


def test_audit_counts_add_up_over_the_workers_an_evaluation_used() -> None:
    totals = AuditTotals()
    totals.see({"audit": {"counts": {"subprocess": 1}}})
    totals.see({"audit": {"counts": {"subprocess": 2, "network": 1}}})  # cumulative: the latest one counts
    totals.see({"op": "result"})  # a message without a record leaves the latest one standing
    totals.fold()
    totals.see({"audit": {"counts": {"subprocess": 3}}})
    totals.fold()
    assert totals.record() == {"counts": {"subprocess": 5, "network": 1}, "samples": {}}


def test_nothing_counted_records_nothing() -> None:
    assert AuditTotals().record() == {}
    assert _folded({"counts": {"subprocess": 0, "network": -3}}).record() == {}
    assert _folded("not a record", None, ["counts"]).record() == {}


def test_a_hostile_audit_record_cannot_forge_odd_counts() -> None:
    long_kind = "k" * 60
    counts = {long_kind: 1, "huge": 10**12, "flag": True, "text": "5", "real": 2.5, "fine": 1}
    totals = _folded({"counts": counts}, {"counts": {7: 1, "fine": 10**9}})
    assert totals.record()["counts"] == {"k" * 40: 1, "huge": 10**9, "fine": 1 + 10**9}


def test_only_the_first_fifty_kinds_of_a_record_are_read() -> None:
    counts = {f"kind{i:03}": 1 for i in range(60)}
    samples = {f"kind{i:03}": ["s"] for i in range(60)}
    record = _folded({"counts": counts, "samples": samples}).record()
    assert sorted(record["counts"]) == [f"kind{i:03}" for i in range(50)]
    assert sorted(record["samples"]) == [f"kind{i:03}" for i in range(50)]


def test_audit_samples_are_few_short_and_text_only() -> None:
    long_kind = "s" * 60
    first = {"samples": {long_kind: ["a" * 300, 5, "b", "c", "d", "e", "f"], "open": "not a list", 3: ["x"]}}
    second = {"samples": {long_kind: ["g"], "open": ["/etc/passwd", None]}}
    record = _folded(first, second).record()
    assert record == {}  # samples alone (no counts) are not a record
    totals = _folded({**first, "counts": {"subprocess": 1}}, {**second, "counts": {"open": 1}})
    assert totals.record()["samples"] == {"s" * 40: ["a" * 200, "b", "c", "d", "g"], "open": ["/etc/passwd"]}


def test_audit_samples_keep_at_most_five_per_kind_over_all_workers() -> None:
    totals = _folded({"counts": {"open": 1}, "samples": {"open": ["1", "2", "3", "4", "5"]}},
                     {"counts": {"open": 1}, "samples": {"open": ["6", "7"]}})
    assert totals.record()["samples"] == {"open": ["1", "2", "3", "4", "5"]}
