"""The runtime record a worker keeps stays small: refused attempts are counted, and only a few are kept as samples."""

from __future__ import annotations

from typing import Any

from selftaught.sandbox._guest import _audit


def _record() -> dict[str, Any]:
    return {"counts": {}, "samples": {}}


def test_every_refused_attempt_is_counted_but_only_a_few_are_kept_as_samples() -> None:
    record = _record()
    for i in range(1000):  # a program that fails with a refusal on every call of a long split
        _audit.refused(record, PermissionError(f"attempt {i}"))
    assert record["counts"]["refused"] == 1000
    assert record["samples"]["refused"] == [f"PermissionError: attempt {i}" for i in range(_audit.MAX_SAMPLES)]


def test_a_refused_sample_is_short_valid_text_whatever_the_message() -> None:
    record = _record()
    _audit.refused(record, PermissionError("\udcff" + "x" * 1000))
    (sample,) = record["samples"]["refused"]
    assert len(sample) <= 200
    sample.encode("utf-8")  # no lone surrogate left to break the wire


def test_other_errors_are_not_refusals() -> None:
    record = _record()
    _audit.refused(record, ValueError("no"))
    _audit.refused(record, OSError(2, "No such file"))
    assert record == _record()
