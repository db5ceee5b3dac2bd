"""Outputs are bounded by what a task's outputs can be, and what the host spends reading one is the program's time.

A candidate that sends one precomputed 8 MB result per instance spends nothing itself; the host would spend
seconds decoding each. Every task declares `max_output_bytes`; the worker is told it and refuses to send more,
and the host refuses a longer result line unread (`bad_output`). The host's CPU time reading and decoding the
messages of a call is charged to the call, within its limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scripted_worker import ScriptedWorker
from selftaught.errors import TaskError
from selftaught.evaluate import MESSAGE_ENVELOPE, evaluate
from selftaught.sandbox import Limits
from selftaught.sandbox._guest import _wire
from selftaught.tasks import builtin_tasks, load_task_source
from selftaught.tasks._base import DEFAULT_MAX_OUTPUT_BYTES
from selftaught.tasks._user import TaskSource
from support import ADDER_TASK_FILE, TEST_SECRET, SumTask

CORRECT = "def algorithm(a):\n    return int(a.sum())\n"
# The candidate: at load it encodes one 8 MB result (four million zeros), and then answers every call with
# it, straight onto the protocol pipe (it replaces the worker's sender, skipping the worker's own size check).
PRECOMPUTED = '''
import json, sys
LINE = json.dumps({"op": "result", "ok": True, "output": [0] * 4_000_000}, separators=(",", ":")).encode() + b"\\n"
_worker = next(m for m in (sys.modules.get("worker"), sys.modules.get("__main__")) if hasattr(m, "Link"))
_send = _worker.Link.send
def _forged(self, message, *limit):
    if message.get("op") != "result":
        return _send(self, message, *limit)
    self.writer.write(LINE)
    self.writer.flush()
_worker.Link.send = _forged
def algorithm(a):
    return 0
'''
# An output over the bound sent the honest way: the worker, told the task's bound, refuses to send it.
HONEST_BIG = "def algorithm(a):\n    return 'x' * 1_000_000\n"


class TinyOutputTask(SumTask):
    """SumTask with three instances whose answer (an int under 50) takes a few bytes."""

    name = "tiny_output"
    split_sizes: Mapping[str, int] = {"val": 3, "test": 3}
    max_output_bytes = 64


class HeavyWorker(ScriptedWorker):
    """A scripted worker whose result message costs the host `seconds` of CPU to receive (as a long line would)."""

    def __init__(self, script: list[Any], seconds: float = 0.0) -> None:
        super().__init__(script)
        self.seconds = seconds

    def retire(self) -> None:
        self.kill()

    def receive(self, timeout: float, limit: int | None = None) -> dict[str, Any]:
        message = super().receive(timeout, limit)
        if message.get("op") == "result":
            start = time.thread_time()
            while time.thread_time() - start < self.seconds:
                pass
        return message


class Given:
    """A sandbox that hands out the one worker it was given."""

    name = "scripted"
    isolated = True
    limits = Limits()

    def __init__(self, worker: ScriptedWorker) -> None:
        self.worker = worker

    def launch(self, seed: int = 0) -> ScriptedWorker:
        return self.worker


def host_cpu(program: str) -> tuple[Any, float]:
    """The evaluation of `program` on TinyOutputTask, and the CPU seconds this (the orchestrator's) thread spent."""
    before = time.thread_time()
    result = evaluate(TinyOutputTask(), program, "val", secret=TEST_SECRET)
    return result, time.thread_time() - before


def test_a_precomputed_8_mb_result_is_refused_unread_and_costs_the_host_little() -> None:
    assert len(json.dumps([0] * 4_000_000)) > 8_000_000 and _wire.MAX_MESSAGE > 4_000_000 * 2 + 100
    control, control_cpu = host_cpu(CORRECT)
    assert control.score == 1.0 and control.failures == {}, control
    hostile, hostile_cpu = host_cpu(PRECOMPUTED)
    assert hostile.score == 0.0 and hostile.failures == {"bad_output": 3}, hostile
    assert "limit of 64 bytes" in hostile.detail and "refused unread" in hostile.detail
    assert hostile.audit["counts"]["protocol_violation"] == 3  # an honest worker never sends past the bound
    # What decoding one such line costs the host (what every instance cost it before the bound):
    line = json.dumps({"op": "result", "ok": True, "output": [0] * 4_000_000}).encode()
    before = time.thread_time()
    _wire.from_wire(_wire.decode(line)["output"])
    decode = time.thread_time() - before
    # Refused unread, the hostile program costs the host its relaunches (its worker is replaced after each refusal),
    # never a decoding: far less than decoding its three results would have.
    assert hostile_cpu < control_cpu + 3 * 0.25 * decode, (hostile_cpu, control_cpu, decode)


def test_the_worker_is_told_the_bound_and_refuses_to_send_more_itself() -> None:
    honest, _ = host_cpu(HONEST_BIG)
    assert honest.failures == {"bad_output": 3} and "the output is too large" in honest.detail, honest
    assert "max_output_bytes" in honest.detail
    assert "protocol_violation" not in honest.audit.get("counts", {})


# ---- the protocol: what the host tells the worker and how long a line it reads ----------------------------------


def test_the_load_message_carries_the_bound_and_only_a_result_may_be_longer_than_the_envelope() -> None:
    task = TinyOutputTask()
    hidden = [i.hidden for i in task.instances("val", TEST_SECRET)]
    script: list[Any] = [{"op": "loading"}, {"op": "loaded", "ok": True}]
    for answer in hidden:
        script += [{"op": "result", "ok": True, "output": answer}]
    worker = HeavyWorker(script)
    result = evaluate(task, CORRECT, "val", sandbox=Given(worker), secret=TEST_SECRET)
    assert result.score == 1.0, result
    assert worker.sent[0]["max_result"] == 64 + MESSAGE_ENVELOPE
    assert worker.limits == [MESSAGE_ENVELOPE] * 2 + [64 + MESSAGE_ENVELOPE] * 3
    assert result.limits["max_output_bytes"] == 64


# ---- the host's reading and decoding is charged ----------------------------------------------------------------


class OneQuickTask(SumTask):
    """One instance of 0.05 s of CPU."""

    name = "one_quick"
    split_sizes: Mapping[str, int] = {"val": 1, "test": 1}
    time_limit = 0.05


def heavy_run(seconds: float, output: Any = None, task: SumTask | None = None) -> Any:
    task = task or SumTask()
    answers = [i.hidden for i in task.instances("val", TEST_SECRET)]
    script: list[Any] = [{"op": "loading"}, {"op": "loaded", "ok": True}]
    for answer in answers:
        script += [{"op": "result", "ok": True, "output": answer if output is None else output}]
    return evaluate(task, CORRECT, "val", sandbox=Given(HeavyWorker(script, seconds)), secret=TEST_SECRET)


def test_the_hosts_cpu_reading_a_result_is_charged_to_the_instance() -> None:
    # The fake worker burns no CPU of its own: all of the charge is the host's reading.
    result = heavy_run(0.05)
    assert result.score == 1.0 and all(0.05 <= o.elapsed < 0.05 + 0.01 for o in result.outcomes), result.outcomes


def test_a_result_whose_reading_takes_the_host_past_the_limit_is_a_timeout() -> None:
    result = heavy_run(0.1, task=OneQuickTask())
    assert result.failures == {"timeout": 1} and result.outcomes[0].elapsed >= 0.1, result
    assert "(of which 0.1" in result.detail and "reading and decoding its output" in result.detail, result


def test_the_hosts_cpu_decoding_an_output_is_charged_to_the_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    # Decoding made to cost a known 0.05 s of this thread's CPU (timing a real decoding of a big output against
    # a reference timing is at the mercy of when the collector runs: 0.07 s charged against a 0.34 s reference
    # was seen with two busy processes per core), so the charge is exact whatever the machine does.
    real = _wire.from_wire

    def costly(data: Any) -> Any:
        start = time.thread_time()
        while time.thread_time() - start < 0.05:
            pass
        return real(data)

    monkeypatch.setattr(_wire, "from_wire", costly)
    result = heavy_run(0.0, [1, 2])
    assert result.failures == {} and result.score == 0.0  # a list is no sum: scored, not failed
    assert all(0.05 <= o.elapsed < 0.05 + 0.01 for o in result.outcomes), result.outcomes


# ---- the bounds the tasks declare --------------------------------------------------------------------------------


def largest_outputs(n: int) -> list[Any]:
    """Outputs of `n` items in every form a built-in task accepts, each item as long as it may be on the wire."""
    return [[-1.2345678901234567e-300] * n, np.full(n, -1.2345678901234567e-300), [True] * n,
            np.ones(n, dtype=np.int64), "\u0001" * n]


@pytest.mark.parametrize("name", sorted(builtin_tasks()))
def test_every_built_in_task_bounds_its_output_by_what_it_can_be(name: str) -> None:
    task = builtin_tasks()[name]
    # its own bound, far below the default (bin packing's answer is a bin per item, up to 5,000 items: 41 KB)
    assert task.max_output_bytes <= (48 if name == "bin_packing" else 16) * 1024 < DEFAULT_MAX_OUTPUT_BYTES
    items = {"parity_noise": 20, "parity_noiseless": 20, "three_sat": 51, "maxcut": 200,
             "modified_quadratic_assignment": 15, "str_grid_dist": 30, "tsp": 200, "knapsack": 200,
             "bin_packing": None, "circle_packing": None}[name]
    if items is None:  # an output of another shape (a task's own tests bound it: n triples, one priority a bin)
        return
    for output in largest_outputs(items):  # the longest well-formed output (and wilder ones of its size) fit
        assert len(json.dumps(_wire.to_wire(output), separators=(",", ":"))) <= task.max_output_bytes


def test_the_built_in_bounds_fit_their_largest_instance() -> None:
    sizes = {"three_sat": lambda args: max(abs(lit) for clause in args[0] for lit in clause) + 1,
             "maxcut": lambda args: args[0].shape[0], "str_grid_dist": lambda args: len(args[0]),
             "tsp": lambda args: args[0].shape[0], "knapsack": lambda args: len(args[0])}
    for name, size in sizes.items():
        task = builtin_tasks()[name]
        largest = max(size(i.args) for split in ("val", "test") for i in task.instances(split, TEST_SECRET))
        assert len(json.dumps(_wire.to_wire([-1.2345678901234567e-300] * largest))) <= task.max_output_bytes


def user_task(tmp_path: Path, extra: str = "") -> Any:
    path = tmp_path / "adder.py"
    path.write_text(ADDER_TASK_FILE + extra)
    return load_task_source(TaskSource(str(path), path.read_bytes()))


def test_a_task_file_declares_its_bound_or_gets_the_default(tmp_path: Path) -> None:
    assert user_task(tmp_path).max_output_bytes == DEFAULT_MAX_OUTPUT_BYTES
    assert user_task(tmp_path, "MAX_OUTPUT_BYTES = 100\n").max_output_bytes == 100


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "True", "'100'"])
def test_a_task_file_with_a_bound_that_is_not_a_positive_int_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(TaskError, match="MAX_OUTPUT_BYTES must be a positive int"):
        user_task(tmp_path, f"MAX_OUTPUT_BYTES = {value}\n")
