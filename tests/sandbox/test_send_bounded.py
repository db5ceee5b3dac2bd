"""A program that stops its worker reading cannot hold the orchestrator: an input larger than the pipe's buffer
must be taken within the call's wall-clock backstop, else the call is a timeout and the worker is killed."""

from __future__ import annotations

import time

import numpy as np

from selftaught.evaluate import evaluate
from selftaught.sandbox import select_sandbox
from selftaught.tasks import Instance
from support import TEST_SECRET, SumTask

#: After its first call the program replaces the worker's receive with a sleep: the next call's input (far larger
#: than a pipe's 64 KiB) is never read. Before, the orchestrator's write blocked forever.
DEAF = '''
import sys, time
_worker = next(m for m in (sys.modules.get("worker"), sys.modules.get("__main__")) if hasattr(m, "Link"))
calls = [0]
def algorithm(a):
    calls[0] += 1
    if calls[0] == 1:
        _worker.Link.receive = lambda self, *args, **kwargs: time.sleep(3600)
    return int(a.sum())
'''
CORRECT = "def algorithm(a):\n    return int(a.sum())\n"


class BigSumTask(SumTask):
    """SumTask with inputs of 100,000 int64s (800 KB a call, far beyond a pipe buffer)."""

    name = "big_sum"
    time_limit = 0.5

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        a = rng.integers(0, 10, size=100_000)
        return Instance((a,), int(a.sum()))


def test_a_worker_that_stops_reading_times_out_instead_of_hanging_the_orchestrator() -> None:
    task = BigSumTask()
    sandbox = select_sandbox("auto").sandbox
    started = time.monotonic()
    deaf = evaluate(task, DEAF, "val", sandbox=sandbox, secret=TEST_SECRET)
    took = time.monotonic() - started
    honest = evaluate(task, CORRECT, "val", sandbox=sandbox, secret=TEST_SECRET)
    assert honest.score == 1.0 and not honest.failures  # the control: big inputs are read in time
    assert deaf.outcomes[0].score == 1.0 and deaf.outcomes[1].failure == "timeout"
    assert "without reading its input" in deaf.detail or any(
        "without reading its input" in (o.detail or "") for o in deaf.outcomes)
    assert took < deaf.limits["deadline"] + 10
