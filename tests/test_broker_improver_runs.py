"""Serving one improver run: its worker's messages, its utility's budget, and what the run records of it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scripted_worker import ScriptedSandbox, ScriptedWorker
from selftaught.broker import ImproverResult, Services, TaskUtility, _serve, run_improver
from selftaught.config import Config
from selftaught.errors import LMRefused
from selftaught.lm import CompletionRequest, OfflineBackend, ScriptedBackend
from selftaught.sandbox import ChannelClosed, ChannelTimeout, ProtocolError, SandboxChoice
from selftaught.sandbox._guest._wire import to_wire
from selftaught.store import RunStore, program_hash, read_events
from support import GOOD_SUM, TEST_SECRET, SumTask
from test_broker_services import PROGRAM, RecordingExecutor

IMPROVER = "def improve_algorithm(s, utility, language_model):\n    return s\n"
SOLUTION = "def algorithm(a):\n    return 7\n"
BETTER = IMPROVER + "# better\n"


def done(**fields: Any) -> dict[str, Any]:
    return {"op": "done", **fields}


def services_for(scripts: list[list[Any]], tmp_path: Path | None = None, *, sandbox: Any = None,
                 executor: RecordingExecutor | None = None, backend: Any = None, **config: Any) -> Services:
    """Services whose improver workers play `scripts` (or come from `sandbox`); scoring is recorded, not run."""
    store = RunStore(tmp_path / "run") if tmp_path is not None else None
    choice = SandboxChoice(sandbox or ScriptedSandbox(scripts))
    return Services(Config(**{"improver_timeout": 30, **config}), backend or ScriptedBackend([GOOD_SUM]),
                    store=store, sandbox=choice, secret=TEST_SECRET, executor=executor or RecordingExecutor())


def run(services: Services, *, level: str = "task", budget: int = 5, **context: Any) -> ImproverResult:
    utility = TaskUtility(services, SumTask(), "val", budget)
    return run_improver(services, IMPROVER, SumTask.seed_solution, utility,
                        services.language_model("s", level=level), **context)


def run_script(script: list[Any], **config: Any) -> ImproverResult:
    return run(services_for([script], **config))


def test_the_worker_is_told_what_to_improve_and_its_budgets_and_killed_after_the_run() -> None:
    sandbox = ScriptedSandbox([[done(ok=True, solution=SOLUTION)]])
    services = services_for([], sandbox=sandbox, lm_budget=3, max_responses_per_call=2)
    result = run(services, budget=7)
    assert result.solution == SOLUTION and result.failure is None
    worker = sandbox.workers[0]
    assert worker.sent == [{"op": "improve", "program": IMPROVER, "initial_solution": SumTask.seed_solution,
                            "utility": {"str": SumTask.description, "budget": 7, "uses": 0},
                            "lm": {"budget": 3, "max_responses_per_call": 2}}]
    assert worker.closed


@pytest.mark.parametrize(("script", "ended"), [
    ([done(ok=True, solution=SOLUTION)], "retired"),
    ([done(ok=False, kind="exception", error="ValueError")], "retired"),
    ([done(ok=False, kind="no_solution", error="None")], "retired"),
    ([done(ok=False, kind="timeout", error="time limit")], "killed"),
    ([done(ok=False, kind="memory", error="MemoryError")], "killed"),
    ([done(ok=False, kind="made-up")], "killed"),
    ([{"op": "surprise"}], "killed"),
    ([ChannelTimeout()], "killed"),
    ([ChannelClosed()], "killed"),
])
def test_an_improver_that_ended_by_the_protocol_retires_its_worker_and_any_other_end_kills_it(
    script: list[Any], ended: str
) -> None:
    # Retired: a warm worker's zygote sweeps and may serve the next improver. Killed: its zygote is destroyed.
    sandbox = ScriptedSandbox([script])
    run(services_for([], sandbox=sandbox, improver_timeout=1))
    assert sandbox.workers[0].ended == ended


def test_a_stopped_run_kills_its_improvers_worker_even_after_a_clean_end() -> None:
    sandbox = ScriptedSandbox([[done(ok=True, solution=SOLUTION)]])
    services = services_for([], sandbox=sandbox)
    worker = services.launch_worker(0)
    services.stopping.set()
    services.release_worker(worker, clean=True)
    assert sandbox.workers[0].ended == "killed"


def test_a_utility_call_is_served_and_answered_with_the_hosts_count_of_uses() -> None:
    call = {"op": "call", "service": "utility", "args": to_wire({"solution": PROGRAM})}
    sandbox = ScriptedSandbox([[call, call, done(ok=True, solution=SOLUTION)]])
    executor = RecordingExecutor(score=0.75)
    result = run(services_for([], sandbox=sandbox, executor=executor))
    assert result.failure is None and result.utility_calls == 2
    assert sandbox.workers[0].sent[1:] == [{"op": "reply", "ok": True, "value": 0.75, "uses": 1},
                                           {"op": "reply", "ok": True, "value": 0.75, "uses": 2}]
    assert executor.calls == [PROGRAM]


def test_an_unexpected_message_ends_the_run_as_a_protocol_failure() -> None:
    result = run_script([{"op": "surprise"}, done(ok=True, solution=SOLUTION)])
    assert (result.solution, result.failure, result.detail) == (None, "protocol", "unexpected message 'surprise'")


def test_a_broken_channel_ends_the_run_with_a_failure_of_its_kind() -> None:
    timeout = run_script([ChannelTimeout()], improver_timeout=1.5)
    assert (timeout.failure, timeout.detail) == ("timeout", "improver ran over 1.5s")
    garbled = run_script([ProtocolError("a line that is not JSON")])
    assert (garbled.failure, garbled.detail) == ("protocol", "a line that is not JSON")
    crashed = run_script([ChannelClosed("worker exited")])
    assert crashed.failure == "crash" and crashed.detail == ScriptedWorker([]).stderr_tail()


class SilentWorker(ScriptedWorker):
    """A worker that died without a word on stderr."""

    def stderr_tail(self, limit: int = 4000) -> str:
        return ""


class OneWorkerSandbox(ScriptedSandbox):
    """Hands out the given worker, recording the seed it was launched with."""

    def __init__(self, worker: ScriptedWorker) -> None:
        super().__init__([])
        self.worker = worker
        self.seeds: list[int] = []

    def launch(self, seed: int = 0) -> ScriptedWorker:
        self.seeds.append(seed)
        return self.worker


def test_a_crash_without_stderr_says_how_the_channel_closed() -> None:
    result = run(services_for([], sandbox=OneWorkerSandbox(SilentWorker([ChannelClosed("worker exited")]))))
    assert (result.failure, result.detail) == ("crash", "worker exited")


def test_an_improver_runs_with_seed_zero_unless_told_otherwise() -> None:
    sandbox = OneWorkerSandbox(ScriptedWorker([done(ok=True, solution=SOLUTION)] * 3))
    services = services_for([], sandbox=sandbox)
    for seed in (None, 0, 5):
        utility = TaskUtility(services, SumTask(), "val", 5)
        lm = services.language_model(f"s{seed}", level="task")
        if seed is None:
            run_improver(services, IMPROVER, SumTask.seed_solution, utility, lm)
        else:
            run_improver(services, IMPROVER, SumTask.seed_solution, utility, lm, seed=seed)
    assert sandbox.seeds == [0, 0, 5]


class PacedWorker(ScriptedWorker):
    """Each message comes `delay` seconds after it is asked for; a shorter wait times out, as a real channel does."""

    def __init__(self, script: list[Any], delay: float) -> None:
        super().__init__(script)
        self.delay = delay

    def receive(self, timeout: float, limit: int | None = None) -> dict[str, Any]:
        if timeout < self.delay:
            time.sleep(max(0.0, timeout))
            raise ChannelTimeout()
        time.sleep(self.delay)
        return super().receive(timeout, limit)


def test_an_improver_gets_no_more_time_than_its_timeout() -> None:
    answer = [done(ok=True, solution=SOLUTION)]
    late = run(services_for([], sandbox=OneWorkerSandbox(PacedWorker(answer, 0.5)), improver_timeout=0.2))
    assert late.failure == "timeout" and late.solution is None
    in_time = run(services_for([], sandbox=OneWorkerSandbox(PacedWorker(answer, 0.05)), improver_timeout=5))
    assert in_time.failure is None and in_time.solution == SOLUTION


def test_time_spent_serving_the_improvers_calls_is_not_charged_to_it() -> None:
    call = {"op": "call", "service": "utility", "args": to_wire({"solution": PROGRAM})}
    worker = PacedWorker([call, done(ok=True, solution=SOLUTION)], 0.01)
    executor = RecordingExecutor(before=lambda _program: time.sleep(0.5))  # scoring takes longer than the timeout
    result = run(services_for([], sandbox=OneWorkerSandbox(worker), executor=executor, improver_timeout=0.3))
    assert result.failure is None and result.solution == SOLUTION and result.utility_calls == 1


def test_a_done_message_is_a_solution_or_a_failure_of_a_known_kind() -> None:
    assert run_script([done(ok=True, solution=SOLUTION)]).solution == SOLUTION
    returned = run_script([done(ok=True, solution=[1, 2])])
    assert (returned.solution, returned.failure) == (None, "no_solution") and "returned list" in returned.detail
    failed = run_script([done(ok=False, kind="exception", error="KeyError: 'x'", solution=SOLUTION)])
    assert (failed.solution, failed.failure, failed.detail) == (None, "exception", "KeyError: 'x'")
    assert run_script([done(ok=False, kind="memory", error={"not": "text"})]).detail == ""
    for forged in ({"ok": False, "kind": "made_up"}, {"ok": 1, "solution": SOLUTION},
                   {"ok": None, "kind": "exception"}, {"ok": "yes", "kind": "timeout"}):
        result = run_script([done(**forged)])
        assert (result.solution, result.failure) == (None, "protocol"), forged
        assert result.detail.startswith("malformed `done` message (kind "), forged


def test_a_long_failure_detail_keeps_its_last_2000_characters() -> None:
    error = "".join(f"{i:05d}" for i in range(700))  # 3500 characters, each position distinct
    result = run_script([done(ok=False, kind="exception", error=error)])
    assert result.detail == error[-2000:]


def test_the_run_reports_what_the_worker_audited() -> None:
    audit = {"counts": {"subprocess": 2, "network": 1}, "samples": {}}
    result = run_script([done(ok=True, solution=SOLUTION, audit=audit)])
    assert result.audit == {"subprocess": 2, "network": 1}


def test_an_improver_run_is_recorded_with_its_programs_and_what_it_used(tmp_path: Path) -> None:
    call = {"op": "call", "service": "utility", "args": to_wire({"solution": PROGRAM})}
    scripts = [[call, done(ok=True, solution=SOLUTION, audit={"counts": {"network": 1}})],
               [done(ok=True, solution=BETTER)], [done(ok=False, kind="syntax", error="bad")]]
    services = services_for([], tmp_path, sandbox=ScriptedSandbox(scripts, pause=0.0123))  # runs of some ms
    results = [run(services, level="task", run=0), run(services, level="meta", run=1),
               run(services, level="task", run=2)]
    runs = [e for e in read_events(tmp_path / "run") if e["kind"] == "improver_run"]
    assert [(e["stream"], e["level"], e["improver"], e["solution"], e["failure"], e["detail"], e["lm_calls"],
             e["utility_calls"], e["audit"], e["run"]) for e in runs] == [
        ("s", "task", program_hash(IMPROVER), program_hash(SOLUTION), None, "", 0, 1, {"network": 1}, 0),
        ("s", "meta", program_hash(IMPROVER), program_hash(BETTER), None, "", 0, 0, {}, 1),
        ("s", "task", program_hash(IMPROVER), None, "syntax", "bad", 0, 0, {}, 2),
    ]
    assert [e["duration"] for e in runs] == [round(r.duration, 3) for r in results]  # to the millisecond
    roles = {e["program"]: e["role"] for e in read_events(tmp_path / "run") if e["kind"] == "program"}
    assert roles == {program_hash(IMPROVER): "improver", program_hash(PROGRAM): "solution",
                     program_hash(SOLUTION): "solution", program_hash(BETTER): "improver"}


def test_utility_calls_past_the_budget_score_the_failure_score_and_are_recorded(tmp_path: Path) -> None:
    executor = RecordingExecutor(score=0.75)
    services = services_for([], tmp_path, executor=executor)
    task = SumTask()
    utility = TaskUtility(services, task, "val", 2, purpose="test")
    assert [utility(PROGRAM, [], {}) for _ in range(3)] == [0.75, 0.75, task.failure_score]
    assert utility.uses == 3 and executor.calls == [PROGRAM]
    calls = [(e.get("failure"), e.get("use"), e["purpose"], e["task"], e["split"], e["score"])
             for e in read_events(tmp_path / "run") if e["kind"] == "utility_call"]
    assert calls == [(None, 1, "test", "sum", "val", 0.75), (None, 2, "test", "sum", "val", 0.75),
                     ("budget", None, "test", "sum", "val", task.failure_score)]


def test_a_solution_that_is_not_text_scores_the_failure_score() -> None:
    executor = RecordingExecutor()
    services = services_for([], executor=executor)
    task = SumTask()
    utility = TaskUtility(services, task, "val", 5)
    assert utility(42, [], {}) == task.failure_score and utility.uses == 1 and executor.calls == []


def test_turning_the_sandbox_flag_off_is_recorded_and_changes_nothing(tmp_path: Path) -> None:
    services = services_for([], tmp_path, executor=RecordingExecutor(score=0.75))
    utility = TaskUtility(services, SumTask(), "val", 5, run=4)
    assert utility(PROGRAM, [], {"use_sandbox": False}) == 0.75
    assert utility(PROGRAM, [], {"use_sandbox": True}) == 0.75
    assert utility(PROGRAM, [], {}) == 0.75
    flags = [e for e in read_events(tmp_path / "run") if e["kind"] == "sandbox_flag_off"]
    assert [(e["value"], e["run"]) for e in flags] == [("False", 4)]


def test_a_hostile_sandbox_flag_value_is_recorded_cut_to_40_characters(tmp_path: Path) -> None:
    services = services_for([], tmp_path)
    utility = TaskUtility(services, SumTask(), "val", 5)
    off = np.zeros((1,) * 20)  # falsy, and its repr is 49 characters long
    message = {"op": "call", "service": "utility",
               "args": to_wire({"solution": PROGRAM, "kwargs": {"use_sandbox": off}})}
    assert _serve(message, utility, services.language_model("s", "task"))["ok"]
    flags = [e for e in read_events(tmp_path / "run") if e["kind"] == "sandbox_flag_off"]
    assert [e["value"] for e in flags] == [repr(off)[:40]] and len(repr(off)) > 40


@pytest.mark.parametrize("off", [np.zeros(0), np.zeros(3)], ids=["empty array", "array of three"])
def test_a_sandbox_flag_whose_truth_cannot_be_told_is_recorded_not_an_error(tmp_path: Path, off: Any) -> None:
    """`not value` raises for these arrays; the call must still be served and the attempt recorded."""
    services = services_for([], tmp_path, executor=RecordingExecutor(score=0.5))
    utility = TaskUtility(services, SumTask(), "val", 5)
    message = {"op": "call", "service": "utility",
               "args": to_wire({"solution": PROGRAM, "kwargs": {"use_sandbox": off}})}
    reply = _serve(message, utility, services.language_model("s", "task"))
    assert reply["ok"] and reply["value"] == 0.5
    flags = [e for e in read_events(tmp_path / "run") if e["kind"] == "sandbox_flag_off"]
    assert [e["value"] for e in flags] == [repr(off)[:40]]


def test_speculation_scores_the_code_of_lm_replies_only_when_enabled() -> None:
    for enabled in (False, True):
        executor = RecordingExecutor()
        services = services_for([], executor=executor, speculate=enabled)
        utility = TaskUtility(services, SumTask(), "val", 5)
        lm = services.language_model("s", "task")
        reply = _serve({"op": "call", "service": "lm.prompt", "args": {"expertise": "e", "message": "m"}}, utility, lm)
        assert reply == {"op": "reply", "ok": True, "value": [GOOD_SUM], "uses": 1}
        services.speculation.drain()
        assert executor.calls == (["def algorithm(a):\n    return int(sum(int(x) for x in a))"] if enabled else [])
        assert utility.uses == 0


def test_a_utility_call_with_only_a_solution_is_served() -> None:
    services = services_for([], executor=RecordingExecutor(score=0.75))
    utility = TaskUtility(services, SumTask(), "val", 5)
    reply = _serve({"op": "call", "service": "utility", "args": {"solution": PROGRAM}}, utility,
                   services.language_model("s", "task"))
    assert reply == {"op": "reply", "ok": True, "value": 0.75, "uses": 1}


class RefusingBackend(OfflineBackend):
    name = "refusing"

    def complete(self, request: CompletionRequest) -> list[str]:
        raise LMRefused("HTTP 400: context too long", 400)


def test_error_replies_say_what_went_wrong_and_count_the_service_asked() -> None:
    services = services_for([], lm_budget=1)
    utility = TaskUtility(services, SumTask(), "val", 5)
    utility(PROGRAM, [], {})
    utility(PROGRAM, [], {})
    lm = services.language_model("s", "task")
    prompt = {"op": "call", "service": "lm.prompt", "args": {"expertise": "e", "message": "m"}}
    assert _serve(prompt, utility, lm)["ok"]
    exhausted = _serve(prompt, utility, lm)
    assert (exhausted["ok"], exhausted["error_kind"], exhausted["uses"]) == (False, "budget", 1)
    assert "budget" in exhausted["error"]
    garbled = _serve({"op": "call", "service": "utility", "args": {"solution": {"__ndarray__": "int64"}}}, utility, lm)
    assert (garbled["ok"], garbled["error_kind"], garbled["uses"]) == (False, "invalid", 2)
    refusing = services_for([], backend=RefusingBackend())
    refused = _serve(prompt, TaskUtility(refusing, SumTask(), "val", 5), refusing.language_model("s", "task"))
    assert (refused["ok"], refused["error_kind"], refused["error"], refused["uses"]) == (
        False, "refused", "HTTP 400: context too long", 1)
