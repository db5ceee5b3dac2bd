"""What each thing a worker does becomes in the score, against scripted workers (no processes, no load-sensitive
timing): late starts, answers out of turn, CPU burnt while answering or in many threads, exits, crashes, its audit
record, and whether the worker may serve again."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from scripted_worker import Burn, ScriptedWorker
from selftaught.errors import WorkerError
from selftaught.evaluate import Evaluation, evaluate
from selftaught.sandbox import ChannelClosed, ChannelTimeout, Limits, ProtocolError
from selftaught.tasks import BadOutput, Instance
from support import TEST_SECRET, SumTask

CORRECT = "def algorithm(a):\n    return int(a.sum())\n"
LOADED = [{"op": "loading"}, {"op": "loaded", "ok": True}]
STOPPED = {"op": "result", "ok": False, "kind": "timeout", "error": "interrupted"}
# The host's CPU time reading and decoding a worker's messages is charged to the program too: for these fakes'
# messages, tens of microseconds on top of the CPU time they script.
HOST = 0.002


def charged(seconds: float) -> Any:
    """What a program that scripted `seconds` of CPU is charged, give or take the host's reading of its messages."""
    return pytest.approx(seconds, abs=HOST)


@dataclass(frozen=True)
class Late:
    """A script item: a message that arrives `seconds` after the wait for it began (`real`: the worker really
    takes that long; otherwise only a wait of at least that long receives it, and a shorter one times out at once)."""

    seconds: float
    message: dict[str, Any]
    real: bool = False


@dataclass(frozen=True)
class Costly:
    """A script item: a message the worker used `seconds` of CPU to make (it arrives, already over)."""

    seconds: float
    message: dict[str, Any]


@dataclass(frozen=True)
class Busy:
    """A script item: the program computes in `threads` threads, using `threads` CPU seconds per second waited for
    it, until it is interrupted."""

    threads: int


@dataclass(frozen=True)
class Starved:
    """A script item: the program computes, but gets only `share` of a core (the machine is busy): each wait
    really passes, and the program uses `share` CPU seconds per second of it, until it is interrupted."""

    share: float


class Worker(ScriptedWorker):
    """A scripted worker with the script items above, which may exit once its script is done, and which records
    every wait and whether it was retired (kept for reuse) or killed."""

    def __init__(self, script: list[Any], *, stderr: str = "Traceback ...\n", exits: bool = False) -> None:
        super().__init__(script)
        self.stderr = stderr
        self.exits = exits  # its process is gone once the script is said: its clock cannot be read
        self.waits: list[float] = []
        self.retired = False

    def receive(self, timeout: float, limit: int | None = None) -> dict[str, Any]:
        self.waits.append(timeout)
        item = self.script[0] if self.script and not self.closed else None
        if isinstance(item, Late):
            if timeout < item.seconds:
                if item.real:
                    time.sleep(max(0.0, timeout))
                    self.script[0] = Late(item.seconds - max(0.0, timeout), item.message, real=True)
                raise ChannelTimeout()
            if item.real:
                time.sleep(item.seconds)
            self.script.pop(0)
            return self.answering(item.message)
        if isinstance(item, Costly):
            self.script.pop(0)
            self.cpu += item.seconds
            return self.answering(item.message)
        if isinstance(item, Busy):
            self.cpu += item.threads * max(0.0, timeout)
            raise ChannelTimeout()
        if isinstance(item, Starved):
            time.sleep(max(0.0, timeout))
            self.cpu += item.share * max(0.0, timeout)
            raise ChannelTimeout()
        return super().receive(timeout, limit)

    def cpu_time(self) -> float:
        if self.exits and not self.script:
            raise ChannelClosed("exited")
        return super().cpu_time()

    def interrupt(self) -> None:
        super().interrupt()
        if self.script and isinstance(self.script[0], Busy | Starved):
            self.script.pop(0)  # it stops computing, and answers (if its script says so)

    def stderr_tail(self, limit: int = 4000) -> str:
        return self.stderr[-limit:]

    def retire(self) -> None:
        self.retired = True
        self.closed = True


class Sandbox:
    """Hands out the given workers in turn; past them, workers that start and die."""

    name = "scripted"
    isolated = True
    limits = Limits()

    def __init__(self, *workers: Worker) -> None:
        self.workers = list(workers)
        self.launched = 0
        self.seeds: list[int] = []

    def launch(self, seed: int = 0) -> Worker:
        self.launched += 1
        self.seeds.append(seed)
        if self.launched > len(self.workers):
            self.workers.append(Worker([{"op": "loading"}]))
        return self.workers[self.launched - 1]


def run(sandbox: Sandbox, task: SumTask | None = None, **kwargs: Any) -> Evaluation:
    return evaluate(task or SumTask(), CORRECT, "val", sandbox=sandbox, secret=TEST_SECRET, **kwargs)


def answers(task: SumTask | None = None, audit: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The messages of a worker that answers every instance of the task's val split correctly."""
    extra = {} if audit is None else {"audit": audit}
    instances = (task or SumTask()).instances("val", TEST_SECRET)
    return [{"op": "result", "ok": True, "output": i.hidden, **extra} for i in instances]


def test_a_worker_has_thirty_seconds_to_start() -> None:
    slow = Worker([Late(29.9, {"op": "loading"}), LOADED[1], *answers()])
    result = run(Sandbox(slow), deadline=100.0)
    assert result.score == 1.0 and result.failure is None
    too_slow = Worker([Late(30.1, {"op": "loading"}), *LOADED[1:]], stderr="no python here")
    with pytest.raises(WorkerError, match=r"failed to start.*no python here"):
        run(Sandbox(too_slow), deadline=100.0)
    assert too_slow.closed


def test_a_worker_that_fails_to_start_is_reported_with_the_end_of_its_stderr() -> None:
    stderr = "E" * 1000 + "X" * 300
    worker = Worker([ChannelClosed("gone")], stderr=stderr)
    with pytest.raises(WorkerError) as raised:
        run(Sandbox(worker))
    assert str(raised.value).endswith(": " + "X" * 300)
    assert worker.closed and not worker.retired  # killed, not kept: a worker that failed to start serves no one


def test_a_worker_that_fails_to_start_with_time_left_is_an_infrastructure_fault_not_the_programs_deadline() -> None:
    # Less than a second of the evaluation is left, but some is: the failure is the machine's, not the candidate's.
    with pytest.raises(WorkerError):
        run(Sandbox(Worker([ChannelClosed("gone")])), deadline=0.8)


@pytest.mark.parametrize(("stderr", "detail"), [("Traceback ...\nMemoryError\n", "Traceback ...\nMemoryError\n"),
                                                ("", "the worker exited while loading")])
def test_a_worker_that_dies_while_loading_is_a_crash_explained_by_its_stderr(stderr: str, detail: str) -> None:
    worker = Worker([{"op": "loading"}, ChannelClosed("gone")], stderr=stderr)
    result = run(Sandbox(worker))
    assert result.score == 0.0 and result.failure == "crash" and result.detail == detail


def test_a_worker_still_starting_at_the_deadline_ends_the_evaluation_without_waiting_past_it() -> None:
    worker = Worker([Late(5.0, {"op": "loading"}, real=True)])
    result = run(Sandbox(worker), deadline=0.3)
    assert result.failure is None and result.failures == {"deadline": 4} and result.deadline_hit
    assert [o.elapsed for o in result.outcomes] == [0.0] * 4 and [o.wall for o in result.outcomes] == [0.0] * 4
    assert max(worker.waits) <= 0.3 and worker.closed


def test_a_program_computing_when_the_deadline_passes_fails_as_deadline_and_no_other_instance_starts() -> None:
    worker = Worker([*LOADED, Late(10.0, {"op": "result", "ok": True, "output": 0}, real=True)])
    result = run(Sandbox(worker), deadline=0.3)
    assert [o.failure for o in result.outcomes] == ["deadline"] * 4 and result.deadline_hit
    assert result.detail == "the evaluation ran out of time"
    assert [o.elapsed for o in result.outcomes] == [charged(0.0)] * 4  # it burnt no CPU; the others never started
    assert [o.wall for o in result.outcomes[1:]] == [0.0] * 3
    assert worker.interrupts == 1 and worker.closed and [m["op"] for m in worker.sent].count("call") == 1


def test_cpu_burnt_at_load_past_the_load_limit_fails_the_program_as_a_timeout() -> None:
    task = SumTask()
    task.load_time_limit = 1.0
    worker = Worker([{"op": "loading"}, Burn(0.6), Burn(0.6), {"op": "loaded", "ok": False, "kind": "timeout"}])
    result = run(Sandbox(worker), task)
    assert result.failure == "timeout" and result.n_instances == 0 and result.load_time is None
    assert result.detail == "defining the program took over 1s of CPU (1.200s)"
    assert worker.interrupts == 1 and worker.closed and not worker.retired


def test_the_cpu_a_program_takes_to_load_is_recorded() -> None:
    worker = Worker([{"op": "loading"}, Burn(0.25), Costly(0.5, LOADED[1]), *answers()])
    result = run(Sandbox(worker))
    assert result.score == 1.0 and result.load_time == charged(0.75)


def test_an_answer_made_with_more_cpu_than_the_limit_is_a_timeout_and_the_worker_is_kept() -> None:
    over = Costly(0.6, {"op": "result", "ok": True, "output": 0})
    worker = Worker([*LOADED, over, *answers()[1:]])
    sandbox = Sandbox(worker)
    result = run(sandbox)
    assert [o.failure for o in result.outcomes] == ["timeout", None, None, None]
    assert result.outcomes[0].score == 0.0 and result.outcomes[0].elapsed == charged(0.6)
    assert result.detail == "0.600s of CPU, over 0.5s"
    assert worker.interrupts == 0 and sandbox.launched == 1
    assert worker.closed and not worker.retired  # a program that ran over is not trusted to serve again


def test_a_program_busy_in_many_threads_is_stopped_soon_after_its_limit() -> None:
    # Four busy threads use CPU four times as fast as the wall clock runs: the host reads the CPU time often enough
    # that the program is charged little more than its limit when it is stopped.
    worker = Worker([*LOADED, Busy(threads=4), STOPPED, *answers()[1:]])
    result = run(Sandbox(worker))
    first = result.outcomes[0]
    assert first.failure == "timeout" and "of CPU, over 0.5s" in first.detail
    assert 0.5 < first.elapsed < 0.5 + 0.1
    assert [o.failure for o in result.outcomes[1:]] == [None] * 3 and worker.interrupts == 1


def test_a_worker_that_exits_right_after_answering_is_charged_what_its_clock_last_showed() -> None:
    reply = {"op": "result", "ok": True, "output": SumTask().instances("val", TEST_SECRET)[0].hidden}
    worker = Worker([*LOADED, Burn(0.2), reply], exits=True)
    result = run(Sandbox(worker))
    assert result.outcomes[0].failure is None and result.outcomes[0].score == 1.0
    assert result.outcomes[0].elapsed == charged(0.2)
    assert result.outcomes[1].failure == "crash"


def test_an_instance_whose_worker_is_already_gone_is_charged_no_wall_time_of_the_instance_before() -> None:
    # The first answer takes 1 s of real time; the worker is then gone, so the next instance fails at once.
    reply = {"op": "result", "ok": True, "output": SumTask().instances("val", TEST_SECRET)[0].hidden}
    worker = Worker([*LOADED, Late(1.0, reply, real=True)], exits=True)
    result = run(Sandbox(worker))
    assert result.outcomes[0].failure is None and result.outcomes[0].wall >= 1.0
    assert result.outcomes[1].failure == "crash" and result.outcomes[1].wall < 0.5


def test_a_load_reply_that_arrives_over_the_load_limit_fails_the_program_as_a_timeout() -> None:
    # The reply says loaded, but the CPU read after it shows the program went past its 1 s: a timeout, not a pass.
    task = SumTask()
    task.load_time_limit = 1.0
    worker = Worker([{"op": "loading"}, Costly(1.2, LOADED[1]), *answers()])
    result = run(Sandbox(worker), task)
    assert result.score == 0.0 and result.failure == "timeout"
    assert result.detail == "defining the program took over 1s of CPU (1.200s)"


def test_a_cpu_clock_that_runs_backwards_is_never_charged_as_negative_time() -> None:
    # The /proc clock sums the live process tree: a child that exits and is reaped leaves it, and the sum drops.
    # A negative charge would hand the program CPU budget back; the drop is charged as nothing instead.
    instances = SumTask().instances("val", TEST_SECRET)
    reply = {"op": "result", "ok": True, "output": instances[0].hidden}
    worker = Worker([*LOADED, Burn(-0.3), reply, *answers()[1:]])
    result = run(Sandbox(worker))
    assert [o.failure for o in result.outcomes] == [None] * len(instances)
    assert 0.0 <= result.outcomes[0].elapsed < HOST  # the host's reading of its answer, no less


@pytest.mark.parametrize("early", ["ready", "loaded"])
def test_a_worker_that_answers_a_call_with_anything_but_a_result_breaks_the_protocol_and_is_charged_nothing(
        early: str) -> None:
    # Had the message been ignored, the next one would have been taken as a correct answer.
    right = answers()
    first = Worker([*LOADED, {**right[0], "op": early}, right[0], *right[1:]])
    second = Worker([*LOADED, *answers()[1:]])
    result = run(Sandbox(first, second))
    assert [o.failure for o in result.outcomes] == ["protocol", None, None, None]
    assert result.outcomes[0].elapsed == 0.0 and result.outcomes[0].score == 0.0
    assert result.audit["counts"] == {"protocol_violation": 1}
    assert first.closed and not first.retired
    assert second.closed and not second.retired  # after a broken worker, none is trusted to be reused


@pytest.mark.parametrize(("stderr", "detail"), [("S" * 200 + "T" * 500, "T" * 500), ("", "the worker died")])
def test_a_worker_that_dies_during_a_call_is_a_crash_explained_by_its_stderr(stderr: str, detail: str) -> None:
    first = Worker([*LOADED, ChannelClosed("gone")], stderr=stderr)
    second = Worker([*LOADED, *answers()[1:]])
    result = run(Sandbox(first, second))
    assert [o.failure for o in result.outcomes] == ["crash", None, None, None]
    assert result.detail == detail


def test_an_instance_failure_message_keeps_its_last_500_characters() -> None:
    error = "A" * 100 + "B" * 500
    failing = {"op": "result", "ok": False, "kind": "exception", "error": error}
    worker = Worker([*LOADED, failing, *answers()[1:]])
    result = run(Sandbox(worker))
    assert result.failures == {"exception": 1} and result.detail == "B" * 500
    assert worker.retired  # an exception in the program leaves its worker fit to serve again


def test_a_worker_that_only_answered_is_retired_for_reuse() -> None:
    worker = Worker([*LOADED, *answers()])
    sandbox = Sandbox(worker)
    result = run(sandbox)
    assert result.score == 1.0 and result.flags == {} and result.failures == {} and worker.retired
    assert [m["op"] for m in worker.sent] == ["load", "go"] + ["call"] * 4
    assert sandbox.seeds == [0]  # without a seed, as with seed=0


def test_the_worker_gets_the_seed_it_is_given() -> None:
    sandbox = Sandbox(Worker([*LOADED, *answers()]))
    run(sandbox, seed=1234)
    assert sandbox.seeds == [1234]


def test_a_worker_whose_first_message_is_not_loading_breaks_the_protocol() -> None:
    # Had it been taken as started, the rest of its script would have scored full marks.
    worker = Worker([LOADED[1], LOADED[1], *answers()])
    result = run(Sandbox(worker))
    assert result.failure == "protocol" and result.n_instances == 0 and worker.closed


@pytest.mark.parametrize(("reply", "detail"), [
    ({"op": "loaded", "ok": 1}, "expected the `loaded` message"),
    ({"op": "result", "ok": True}, "expected the `loaded` message"),
    ({"op": "loaded", "ok": False, "kind": "scorer_error", "error": "blame the task"},
     "unknown load failure 'scorer_error'"),
])
def test_a_load_reply_off_the_protocol_is_a_protocol_failure(reply: dict[str, Any], detail: str) -> None:
    # Had it been taken as loaded, the rest of the script would have scored full marks.
    worker = Worker([{"op": "loading"}, reply, *answers()])
    result = run(Sandbox(worker))
    assert result.failure == "protocol" and result.detail == detail and result.n_instances == 0
    assert result.audit["counts"] == {"protocol_violation": 1} and worker.closed


@pytest.mark.parametrize("when", ["loading", "answering"])
def test_an_undecodable_message_is_a_protocol_failure(when: str) -> None:
    garbled = ProtocolError("a line that is not a message")
    script = [{"op": "loading"}, garbled] if when == "loading" else [*LOADED, garbled]
    result = run(Sandbox(Worker(script), Worker([*LOADED, *answers()[1:]])))
    kinds = [result.failure] if when == "loading" else [o.failure for o in result.outcomes]
    assert kinds == (["protocol"] if when == "loading" else ["protocol", None, None, None])
    assert result.detail == "a line that is not a message"
    assert result.audit["counts"] == {"protocol_violation": 1}


def test_a_failure_kind_the_protocol_does_not_know_is_a_protocol_failure() -> None:
    made_up = {"op": "result", "ok": False, "kind": "scorer_error", "error": "blame the task"}
    result = run(Sandbox(Worker([*LOADED, made_up]), Worker([*LOADED, *answers()[1:]])))
    assert [o.failure for o in result.outcomes] == ["protocol", None, None, None]
    assert result.detail == "unknown failure kind 'scorer_error'"


@pytest.mark.parametrize("kind", ["timeout", "memory"])
def test_a_worker_whose_program_was_stopped_is_killed_not_reused(kind: str) -> None:
    stopped = {"op": "result", "ok": False, "kind": kind, "error": "stopped"}
    worker = Worker([*LOADED, stopped, *answers()[1:]])
    result = run(Sandbox(worker))
    assert result.failures == {kind: 1} and worker.closed and not worker.retired


def test_later_workers_that_fail_to_load_fail_their_instances() -> None:
    broken = [{"op": "loading"}, {"op": "loaded", "ok": False, "kind": "exception", "error": "flaky import"}]
    first = Worker([*LOADED, {"op": "surprise"}])
    result = run(Sandbox(first, Worker(broken), Worker(broken), Worker(broken)))
    assert [o.failure for o in result.outcomes] == ["protocol", "exception", "exception", "exception"]
    assert result.failure is None and result.n_instances == 4


def test_what_the_program_tried_is_reported_from_every_worker_it_used() -> None:
    first = Worker([{"op": "loading"}, {"op": "loaded", "ok": True, "audit": {"counts": {"subprocess": 1}}},
                    {"op": "result", "ok": True, "output": 0, "audit": {"counts": {"subprocess": 2}}},
                    {"op": "bogus"}])
    second = Worker([{"op": "loading"}, {"op": "loaded", "ok": True, "audit": {"counts": {"network": 1}}},
                     *answers(audit={"counts": {"network": 1, "subprocess": 1}})[2:]])
    result = run(Sandbox(first, second))
    assert result.audit == {"counts": {"subprocess": 3, "network": 1, "protocol_violation": 1}, "samples": {}}


def test_what_a_program_tried_before_it_failed_to_load_is_reported() -> None:
    failed = {"op": "loaded", "ok": False, "kind": "exception", "error": "no",
              "audit": {"counts": {"subprocess": 1}, "samples": {"subprocess": ["curl evil"]}}}
    result = run(Sandbox(Worker([{"op": "loading"}, failed])))
    assert result.failure == "exception" and result.detail == "no"
    assert result.audit == {"counts": {"subprocess": 1}, "samples": {"subprocess": ["curl evil"]}}


class LaxTask(SumTask):
    """SumTask whose lax scorer (the one the LM is shown) gives every answer full marks."""

    name = "lax"
    split_sizes: Mapping[str, int] = {"val": 2, "test": 2}

    def lax_score_output(self, instance: Instance, output: Any) -> float | None:
        return 1.0


def test_a_wrong_but_well_formed_answer_the_lax_scorer_would_reward_is_flagged() -> None:
    task = LaxTask()
    right = answers(task)
    wrong = [{"op": "result", "ok": True, "output": -1}]
    result = run(Sandbox(Worker([*LOADED, *wrong, *right[1:]])), task)
    assert result.score == 0.5 and result.failures == {}
    assert [o.flags for o in result.outcomes] == [("lax_would_accept",), ()]


def test_a_program_that_sleeps_is_stopped_at_the_wall_clock_backstop_and_its_wall_time_recorded() -> None:
    task = QuickTask()
    worker = Worker([*LOADED, Late(60.0, {"op": "result", "ok": True, "output": 0}, real=True)])
    result = run(Sandbox(worker), task)
    (outcome,) = result.outcomes
    assert outcome.failure == "timeout" and outcome.elapsed == charged(0.0)
    # what was measured, not a guess at why: the CPU it used, the wall time it took, the machine's load
    assert outcome.detail.startswith("did not finish: stopped by the 1.05s wall-clock backstop of its 0.05s CPU "
                                     "limit, having used 0.000s of CPU in 1.0"), outcome.detail
    assert "s of wall time (load average " in outcome.detail and " cores): " in outcome.detail
    assert outcome.detail.endswith("it slept or waited, or other work left it too little CPU")
    # the wall time runs until it was stopped, not through the grace it was given to answer the interrupt
    assert 1.05 <= outcome.wall < 1.05 + 0.4
    assert worker.interrupts == 1 and worker.closed


def test_a_program_starved_of_cpu_is_told_what_was_measured_not_that_it_slept() -> None:
    # The case: a busy loop on a loaded machine gets 3% of a core, and the wall-clock backstop ends it
    # before its CPU limit (0.05 s: 0.03 x 1.05 s is under it). The detail reports the CPU it used, the wall time it
    # had and the load, and that it did not finish; it does not claim the program slept.
    worker = Worker([*LOADED, Starved(0.03), STOPPED])
    result = run(Sandbox(worker), QuickTask())
    (outcome,) = result.outcomes
    assert outcome.failure == "timeout" and 0.025 < outcome.elapsed < 0.05, outcome
    assert outcome.detail.startswith("did not finish: stopped by the 1.05s wall-clock backstop"), outcome.detail
    used = float(outcome.detail.split("having used ")[1].split("s of CPU")[0])
    wall = float(outcome.detail.split(" in ")[1].split("s of wall time")[0])
    assert used == pytest.approx(outcome.elapsed, abs=0.001) and 1.05 <= wall < 1.05 + 0.4
    assert "load average" in outcome.detail and "other work left it too little CPU" in outcome.detail


def test_a_program_that_sleeps_at_load_is_stopped_at_the_load_limits_backstop() -> None:
    task = QuickTask()
    task.load_time_limit = 0.05
    worker = Worker([{"op": "loading"}, Late(60.0, LOADED[1], real=True)])
    result = run(Sandbox(worker), task)
    assert result.failure == "timeout" and result.n_instances == 0
    assert result.detail.startswith("defining the program: did not finish: stopped by the 1.05s wall-clock "
                                    "backstop of its 0.05s CPU limit, having used 0.000s of CPU in 1.0"), result


class QuickTask(SumTask):
    """One instance of 0.05 s of CPU (a wall-clock backstop of 1.05 s)."""

    name = "quick"
    split_sizes: Mapping[str, int] = {"val": 1, "test": 1}
    time_limit = 0.05


def test_a_program_still_decoding_its_inputs_past_the_wall_clock_backstop_fails_on_the_wall_clock() -> None:
    # Decoding the inputs is the program's time: a worker still decoding (it answers nothing) is stopped like one that
    # computes.
    worker = Worker([*LOADED, Late(5.0, {"op": "result", "ok": True, "output": 0}, real=True)])
    result = run(Sandbox(worker), QuickTask())
    outcome = result.outcomes[0]
    assert outcome.failure == "timeout" and "stopped by the 1.05s wall-clock backstop" in outcome.detail


@pytest.mark.parametrize("forged", [{"op": "result", "ok": 1, "output": 0}, {"op": "result", "ok": "yes", "output": 0},
                                    {"op": "answer", "ok": True, "output": 0}], ids=["ok 1", "ok yes", "not a result"])
def test_a_result_message_off_the_protocol_is_a_protocol_failure_not_an_answer(forged: dict[str, Any]) -> None:
    instances = SumTask().instances("val", TEST_SECRET)
    worker = Worker([*LOADED, {**forged, "output": instances[0].hidden}])
    result = run(Sandbox(worker))
    assert result.outcomes[0].failure == "protocol" and result.outcomes[0].detail == "expected the `result` message"


def test_an_output_the_host_cannot_decode_is_a_protocol_failure() -> None:
    # A guest that skips its own encoder can send anything; the host decodes it under the wire's rules.
    forged = {"op": "result", "ok": True, "output": {"__ndarray__": "int64", "shape": [2], "data": [1]}}
    worker = Worker([*LOADED, forged])
    result = run(Sandbox(worker))
    assert result.outcomes[0].failure == "protocol"
    assert result.outcomes[0].detail.startswith("undecodable output: ")


def test_with_no_time_left_no_worker_starts() -> None:
    sandbox = Sandbox(Worker([*LOADED, *answers()]))
    result = run(sandbox, deadline=0.0)
    assert result.failures == {"deadline": 4} and result.deadline_hit and sandbox.launched == 0


@pytest.mark.parametrize(("burnt", "runs"), [(3.7, True), (4.7, False)])
def test_the_evaluations_cpu_budget_counts_the_load_and_every_instance(burnt: float, runs: bool) -> None:
    # SumTask's budget for its four instances: 5 s of load, 4 x (0.5 + 0.05) s of calls and 1 s: 8.2 s. The load
    # took 4 s and the first call `burnt` s: the next instance runs only if that leaves some budget.
    right = answers()
    worker = Worker([{"op": "loading"}, Costly(4.0, LOADED[1]), Costly(burnt, right[0]), *right[1:]])
    result = run(Sandbox(worker))
    assert result.outcomes[0].failure == "timeout" and result.outcomes[0].elapsed == charged(burnt)
    if runs:
        assert [o.failure for o in result.outcomes[1:]] == [None] * 3 and not result.deadline_hit
    else:
        assert [o.failure for o in result.outcomes[1:]] == ["deadline"] * 3 and result.deadline_hit
        assert result.outcomes[1].detail == "the program used the evaluation's CPU budget (8.70s of 8.2s)"
        assert [(o.elapsed, o.wall) for o in result.outcomes[1:]] == [(0.0, 0.0)] * 3


class SlowScorerTask(SumTask):
    """SumTask whose scorer takes half a second (the evaluation's time runs on meanwhile)."""

    name = "slow_scorer"

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        time.sleep(0.5)
        return super().score_output(instance, output, elapsed)


def test_no_instance_starts_past_the_deadline_even_when_the_scorer_made_it_late() -> None:
    task = SlowScorerTask()
    worker = Worker([*LOADED, *answers(task)])
    result = run(Sandbox(worker), task, deadline=0.3)
    assert [o.failure for o in result.outcomes] == [None, "deadline", "deadline", "deadline"]
    assert result.outcomes[0].score == 1.0 and [m["op"] for m in worker.sent].count("call") == 1


class StrictTask(LaxTask):
    """Takes only an int as an answer (anything else is malformed); its lax scorer takes anything."""

    name = "strict"

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        if type(output) is not int:
            raise BadOutput(f"expected an int, got {type(output).__name__}")
        return super().score_output(instance, output, elapsed)


def test_a_malformed_answer_is_bad_output_and_flagged_when_the_lax_scorer_would_take_it() -> None:
    task = StrictTask()
    malformed = [{"op": "result", "ok": True, "output": "12"}]
    result = run(Sandbox(Worker([*LOADED, *malformed, *answers(task)[1:]])), task)
    assert [(o.score, o.failure, o.flags) for o in result.outcomes] == [
        (0.0, "bad_output", ("lax_would_accept",)), (1.0, None, ())]
    assert result.detail == "expected an int, got str"


class RoundingTask(LaxTask):
    """Scores 0.3 for any int; its lax scorer computes the same 0.3 as 0.1 + 0.2 (a float rounding above it)."""

    name = "rounding"

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        return 0.3

    def lax_score_output(self, instance: Instance, output: Any) -> float | None:
        return 0.1 + 0.2


def test_a_lax_score_above_the_earned_one_only_by_float_rounding_is_not_flagged() -> None:
    task = RoundingTask()
    result = run(Sandbox(Worker([*LOADED, *answers(task)])), task)
    assert result.score == pytest.approx(0.3) and result.flags == {}


@pytest.mark.parametrize("program", [None, "", "  \n\t\n"])
def test_no_program_is_no_code_and_starts_no_worker(program: str | None) -> None:
    sandbox = Sandbox()
    result = evaluate(SumTask(), program, "val", sandbox=sandbox, secret=TEST_SECRET)
    assert result.failure == "no_code" and result.detail == "no program" and result.score == 0.0
    assert result.n_instances == 0 and sandbox.launched == 0 and result.duration == 0.0


@pytest.mark.parametrize("n", [None, 0, 2, "1"])
def test_a_result_naming_another_call_is_a_protocol_break(n: Any) -> None:
    # The program shares its process with the protocol's descriptors: a result it forged, or its real one coming a
    # call late behind a forged one, names a call other than the one the host waits for.
    right = answers()
    first = Worker([*LOADED, {**right[0], "n": n}, *right[1:]])
    result = run(Sandbox(first, Worker([*LOADED, *answers()[1:]])))
    assert [o.failure for o in result.outcomes] == ["protocol", None, None, None]
    assert result.detail == f"a result for call {n}, not call 1" and first.closed and not first.retired
    control = run(Sandbox(Worker([*LOADED, {**right[0], "n": 1}, *right[1:]])))  # the same result, naming its call
    assert control.failures == {} and control.score == 1.0
