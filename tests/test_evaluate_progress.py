"""An evaluation that runs past a few seconds says how far it is: to its caller, to a run's progress, to `score`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripted_worker import ScriptedSandbox
from selftaught.cli import main
from selftaught.evaluate import _loop, evaluate
from support import TEST_SECRET, SumTask, make_services

CORRECT = "def algorithm(a):\n    return int(a.sum())\n"


def script(pause: float = 0.0) -> ScriptedSandbox:
    """A sandbox whose one worker answers SumTask's four val instances right, each message `pause` s late."""
    answers: list[Any] = [{"op": "loading"}, {"op": "loaded", "ok": True}]
    for instance in SumTask().instances("val", TEST_SECRET):
        answers += [{"op": "result", "ok": True, "output": instance.hidden}]
    return ScriptedSandbox([answers], pause=pause)


def scored(sandbox: ScriptedSandbox) -> tuple[Any, list[tuple[int, int, float]]]:
    calls: list[tuple[int, int, float]] = []
    result = evaluate(SumTask(), CORRECT, "val", sandbox=sandbox, secret=TEST_SECRET,
                      progress=lambda *report: calls.append(report))
    return result, calls


def test_an_evaluation_that_ends_within_a_few_seconds_reports_nothing() -> None:
    result, calls = scored(script())
    assert result.score == 1.0 and result.duration < _loop.PROGRESS_AFTER and calls == []


def test_past_a_few_seconds_each_instance_is_reported_then_at_intervals_and_always_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_loop, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr(_loop, "PROGRESS_EVERY", 0.0)
    result, calls = scored(script())
    assert result.score == 1.0
    assert [(done, total) for done, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [t for _, _, t in calls] == sorted(t for _, _, t in calls) and calls[-1][2] <= result.duration
    # Reports come once the evaluation has run PROGRESS_AFTER s, then every PROGRESS_EVERY s, and the last always.
    monkeypatch.setattr(_loop, "PROGRESS_AFTER", 0.15)
    monkeypatch.setattr(_loop, "PROGRESS_EVERY", 1000.0)
    result, calls = scored(script(pause=0.05))  # each message 50 ms late: ~0.1 s per instance
    assert [(done, total) for done, total, _ in calls][-1] == (4, 4) and len(calls) == 2, calls
    assert 1 <= calls[0][0] < 4 and calls[0][2] >= 0.15


def test_a_runs_evaluations_report_to_its_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_loop, "PROGRESS_AFTER", 0.0)
    messages: list[str] = []
    services = make_services(["unused"])
    services.progress = messages.append
    services.evaluate(SumTask(), CORRECT, "val")
    services.close()
    assert messages and messages[-1].startswith("scoring ") and messages[-1].endswith("s")
    assert "on sum (val): 4/4 instances" in messages[-1], messages


def test_score_shows_progress_on_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_loop, "PROGRESS_AFTER", 0.0)
    solution = tmp_path / "solution.py"
    solution.write_text("def algorithm(a, b, c):\n    return [0] * len(c)\n")
    assert main(["score", "parity_noise", str(solution)]) == 0
    err = capsys.readouterr().err
    assert "1/20 instances scored" in err and "20/20 instances scored" in err, err
