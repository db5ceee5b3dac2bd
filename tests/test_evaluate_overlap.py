"""The host judges an answered call while the worker runs the next one, and encodes the next call meanwhile: the
outcomes are those of judging each call before sending the next, and a slow judgement stops the overlap."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from scripted_worker import Burn, ScriptedSandbox, ScriptedWorker
from selftaught.evaluate import _loop, evaluate
from selftaught.evaluate._runner import Runner
from selftaught.sandbox import Limits
from selftaught.tasks import BadOutput, Instance
from support import TEST_SECRET, SumTask

CORRECT = "def algorithm(a):\n    return int(a.sum())\n"
LOADED = [{"op": "loading"}, {"op": "loaded", "ok": True}]


class MixedTask(SumTask):
    """Eight instances; an answer that is not an int is malformed; the lax scorer takes any answer."""

    name = "mixed"
    split_sizes: Mapping[str, int] = {"val": 8, "test": 8}

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.calls_seen: list[int] = []  # how many calls the worker had been sent when each answer was judged
        self.worker: ScriptedWorker | None = None

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        if self.worker is not None:
            self.calls_seen.append([m["op"] for m in self.worker.sent].count("call"))
        time.sleep(self.pause)
        if type(output) is not int:
            raise BadOutput(f"expected an int, got {type(output).__name__}")
        return 1.0 if output == instance.hidden else 0.0

    def lax_score_output(self, instance: Instance, output: Any) -> float | None:
        return 1.0


def script(task: MixedTask) -> list[Any]:
    """Right, wrong, malformed, failed, over the limit, right again...: every kind of answer."""
    hidden = [i.hidden for i in task.instances("val", TEST_SECRET)]
    stopped = {"op": "result", "ok": False, "kind": "timeout", "error": "time limit"}
    return [*LOADED,
            {"op": "result", "ok": True, "output": hidden[0]},
            {"op": "result", "ok": True, "output": -1},
            {"op": "result", "ok": True, "output": "12"},
            {"op": "result", "ok": False, "kind": "exception", "error": "boom"},
            {"op": "result", "ok": True, "output": hidden[4]},
            Burn(0.3), Burn(0.3), stopped,
            {"op": "result", "ok": True, "output": hidden[6]},
            {"op": "result", "ok": True, "output": hidden[7]}]


class Watched(ScriptedSandbox):
    """One scripted worker, which the task watches (to count the calls it was sent by each judgement)."""

    def __init__(self, task: MixedTask) -> None:
        super().__init__([script(task)])
        self.task = task

    def launch(self, seed: int = 0) -> ScriptedWorker:
        worker = super().launch(seed)
        self.task.worker = worker
        return worker


def scored(monkeypatch: pytest.MonkeyPatch, quick: float, pause: float = 0.0) -> tuple[Any, MixedTask]:
    monkeypatch.setattr(_loop, "QUICK_JUDGEMENT", quick)
    task = MixedTask(pause)
    return evaluate(task, CORRECT, "val", sandbox=Watched(task), secret=TEST_SECRET), task


def summary(result: Any) -> list[tuple[Any, ...]]:
    return [(o.score, o.failure, o.detail, o.flags, round(o.elapsed, 2)) for o in result.outcomes]


# How many calls the worker had been sent when each answered call was judged (instances 4 and 6 failed: no
# judgement), judging each call before the next (the control) and once the next was sent (the first judgement is
# made before, to see that judging is quick; the last once the loop is over).
SEQUENTIAL = [1, 2, 3, 5, 7, 8]
OVERLAPPED = [1, 3, 4, 6, 8, 8]


def test_outcomes_are_those_of_judging_each_call_before_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    overlapped, task = scored(monkeypatch, quick=1.0)
    sequential, control = scored(monkeypatch, quick=0.0)
    assert control.calls_seen == SEQUENTIAL and task.calls_seen == OVERLAPPED
    assert summary(overlapped) == summary(sequential)
    assert (overlapped.score, overlapped.failures, overlapped.flags, overlapped.detail) == \
        (sequential.score, sequential.failures, sequential.flags, sequential.detail)
    assert [o.failure for o in overlapped.outcomes] == [None, None, "bad_output", "exception", None, "timeout",
                                                        None, None]


def test_a_slow_judgement_stops_the_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    # A judgement over QUICK_JUDGEMENT would delay the host's look at the next call: each is then made before the
    # next call goes out.
    result, task = scored(monkeypatch, quick=0.001, pause=0.005)
    assert task.calls_seen == SEQUENTIAL
    assert [o.failure for o in result.outcomes][:3] == [None, None, "bad_output"]


def test_a_call_encoded_ahead_is_the_call_encoded_then() -> None:
    task = SumTask()
    first, second = task.instances("val", TEST_SECRET)[:2]

    class Box:
        limits = Limits()

    runner = Runner(Box(), task, CORRECT, 0, time.perf_counter() + 60)  # type: ignore[arg-type]

    def call() -> tuple[object, bytes, int]:
        message, attachment = runner._call(first)
        return message["args"], attachment, message["n"]

    args, attachment, n = call()  # the control: encoded then
    runner.prepare(first)
    assert call() == (args, attachment, n + 1)  # each call numbered afresh
    runner.prepare(second)
    assert call() == (args, attachment, n + 2)  # prepared for another instance: not used
    assert runner._prepared is None
