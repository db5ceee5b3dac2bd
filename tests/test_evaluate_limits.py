"""Every time an evaluation spends is bounded: the load, each instance (inputs included) and the whole.

The load and each instance are charged with CPU time; a wall-clock backstop and the deadline bound the rest."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from scripted_worker import Burn, ScriptedSandbox
from selftaught.evaluate import (
    CPU_INSTANCE_SLACK,
    CPU_SLACK,
    EVALUATION_SLACK,
    INSTANCE_SLACK,
    backstop_for,
    cpu_budget_for,
    deadline_for,
    evaluate,
)
from support import TEST_SECRET, SumTask

CORRECT = "def algorithm(a):\n    return int(a.sum())\n"
# Busy for `seconds` of the worker's CPU (the candidate's own clock is fine for making work; it is never what
# the host charges).
BURN = "import time as _t\n_s = _t.process_time()\nwhile _t.process_time() - _s < {seconds}:\n    pass\n"
# A program that will not be interrupted and loops: each instance kills and relaunches its worker.
STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
    "time.sleep({load})\n"
    "def algorithm(a):\n"
    "    while True:\n"
    "        pass\n"
)


class QuickLoadTask(SumTask):
    """SumTask with a one-second load limit (the default is a few seconds)."""

    name = "quick_load"
    load_time_limit = 1.0


class QuickerLoadTask(SumTask):
    """SumTask with a 0.1 s load limit, whose backstop (1.1 s) a program that computes never meets before it, even
    with a tenth of a core."""

    name = "quicker_load"
    load_time_limit = 0.1


class QuickSumTask(SumTask):
    """SumTask's four instances with a 0.1 s limit (a backstop of 1.1 s)."""

    name = "quick_sum"
    time_limit = 0.1


class ManySmallTask(SumTask):
    """Twelve instances of 0.05 s each."""

    name = "many_small"
    split_sizes: Mapping[str, int] = {"val": 12, "test": 12}
    time_limit = 0.05


def test_a_program_that_computes_too_long_at_load_fails_as_a_timeout() -> None:
    task = QuickerLoadTask()
    started = time.monotonic()
    result = evaluate(task, BURN.format(seconds=3) + CORRECT, "val", secret=TEST_SECRET)
    assert result.failure == "timeout" and "defining the program took over 0.1s of CPU" in result.detail, result
    assert result.score == task.failure_score and result.load_time is None
    assert time.monotonic() - started < 3  # interrupted, not waited for (3 s of CPU take at least 3 s)
    assert result.limits["load_time_limit"] == 0.1


def test_a_program_that_sleeps_at_load_is_stopped_by_the_wall_clock_backstop() -> None:
    task = QuickLoadTask()
    started = time.monotonic()
    result = evaluate(task, "import time\ntime.sleep(30)\n" + CORRECT, "val", secret=TEST_SECRET)
    took = time.monotonic() - started
    assert result.failure == "timeout" and "wall-clock backstop" in result.detail, result
    assert backstop_for(1.0) <= took < backstop_for(1.0) + 2, took


def test_load_work_within_the_limit_is_allowed_and_recorded_as_cpu_time() -> None:
    result = evaluate(QuickLoadTask(), BURN.format(seconds=0.4) + CORRECT, "val", secret=TEST_SECRET)
    assert result.score == 1.0 and result.failure is None
    assert result.load_time is not None and 0.4 <= result.load_time < 1.0
    # sleeping at load costs no CPU: within the backstop it is not charged
    slept = evaluate(QuickLoadTask(), "import time\ntime.sleep(1.2)\n" + CORRECT, "val", secret=TEST_SECRET)
    assert slept.score == 1.0 and slept.load_time is not None and slept.load_time < 0.2, slept


def test_a_loader_that_ignores_the_interrupt_is_killed_at_the_load_limit() -> None:
    program = "import signal\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\nwhile True:\n    pass\n"
    started = time.monotonic()
    result = evaluate(QuickLoadTask(), program, "val", secret=TEST_SECRET)
    assert result.failure == "timeout" and time.monotonic() - started < 5


def test_work_done_while_the_inputs_are_decoded_is_charged_to_the_instance() -> None:
    # The program swaps the worker's decoder for one that computes before the timed `go`; that CPU time
    # counts, so the trick earns nothing. Without the trick the same program scores 1.
    trick = (
        "import sys, time\n"
        "_wire = sys.modules['_wire']\n"
        "_decode = _wire.from_wire\n"
        "def _early(data, *args, **kwargs):\n"
        "    start = time.process_time()\n"
        "    while time.process_time() - start < {pause}:\n"
        "        pass\n"
        "    return _decode(data, *args, **kwargs)\n"
        "_wire.from_wire = _early\n"
    )
    task = QuickSumTask()  # a 0.1 s limit: the CPU limit, not the backstop, stops it on a busy machine too
    cheat = evaluate(task, trick.format(pause=0.5) + CORRECT, "val", secret=TEST_SECRET)
    assert cheat.score == 0.0 and cheat.failures == {"timeout": 4}, cheat
    assert "of CPU, over 0.1s" in cheat.detail, cheat
    # stopped once over the limit: the host reads the CPU every 10 ms (measured 0 to 3.4 ms over, 40 calls beside
    # two busy processes per core)
    assert all(0.1 < o.elapsed < 0.1 + 0.05 for o in cheat.outcomes), cheat.outcomes
    honest = evaluate(task, trick.format(pause=0.0) + CORRECT, "val", secret=TEST_SECRET)
    assert honest.score == 1.0 and honest.failures == {}


def test_a_decoder_the_program_broke_fails_its_instances_as_its_own_exceptions() -> None:
    # The inputs are decoded in the program's process, in its time: what goes wrong there is the program's failure,
    # and the worker goes on serving (the control: the same program without the break scores 1).
    broken = (
        "import sys\n"
        "_wire = sys.modules['_wire']\n"
        "_decode = _wire.from_wire\n"
        "def _broken(data, *args, **kwargs):\n"
        "    if {broken}:\n"
        "        raise ValueError('the decoder is broken')\n"
        "    return _decode(data, *args, **kwargs)\n"
        "_wire.from_wire = _broken\n"
    )
    task = SumTask()
    result = evaluate(task, broken.format(broken=True) + CORRECT, "val", secret=TEST_SECRET)
    assert result.score == 0.0 and result.failures == {"exception": 4}, result
    assert "the decoder is broken" in result.detail
    honest = evaluate(task, broken.format(broken=False) + CORRECT, "val", secret=TEST_SECRET)
    assert honest.score == 1.0 and honest.failures == {}


def test_the_whole_evaluation_has_a_deadline_past_which_instances_fail_as_deadline() -> None:
    task = ManySmallTask()
    started = time.monotonic()
    result = evaluate(task, STUBBORN.format(load=0.2), "val", secret=TEST_SECRET, deadline=3.0)
    took = time.monotonic() - started
    assert took < 3.0 + 2.0, took  # the deadline, plus at most one kill and the grace it waits
    assert result.deadline_hit and result.n_instances == 12
    assert result.failures.get("timeout", 0) >= 1 and result.failures.get("deadline", 0) >= 1
    assert set(result.failures) == {"timeout", "deadline"}
    assert result.failures["timeout"] + result.failures["deadline"] == 12
    assert result.limits["deadline"] == 3.0


def test_a_well_behaved_program_finishes_well_inside_the_same_deadline() -> None:
    result = evaluate(ManySmallTask(), CORRECT, "val", secret=TEST_SECRET, deadline=3.0)
    assert result.score == 1.0 and not result.deadline_hit and result.failures == {}


def test_the_default_deadline_is_the_load_backstop_plus_instances_times_their_backstop_plus_slack() -> None:
    task = ManySmallTask()
    assert backstop_for(0.05) == pytest.approx(1.05) and backstop_for(2.0) == pytest.approx(6.0)
    assert deadline_for(task, 12) == pytest.approx(backstop_for(task.load_time_limit) + 12 * (1.05 + INSTANCE_SLACK)
                                                   + EVALUATION_SLACK)
    result = evaluate(task, CORRECT, "test", secret=TEST_SECRET)
    assert result.limits == {"time_limit": 0.05, "load_time_limit": task.load_time_limit, "backstop": 1.05,
                             "load_backstop": backstop_for(task.load_time_limit),
                             "deadline": round(deadline_for(task, 12), 3),
                             "cpu_budget": round(cpu_budget_for(task, 12), 3),
                             "max_output_bytes": task.max_output_bytes}
    expected = task.load_time_limit + 12 * (0.05 + CPU_INSTANCE_SLACK) + CPU_SLACK
    assert cpu_budget_for(task, 12) == pytest.approx(expected)


# STUBBORN, but its load computes 0.3 s (charged to the evaluation's CPU budget at every relaunch).
STUBBORN_BURNING = (
    "import signal\n"
    "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n" + BURN.format(seconds=0.3) +
    "def algorithm(a):\n"
    "    while True:\n"
    "        pass\n"
)


class StubbornTarget(SumTask):
    """Twenty instances of 0.05 s of CPU after a quick load: room for a stubborn program to waste time."""

    name = "stubborn_target"
    split_sizes: Mapping[str, int] = {"val": 20, "test": 20}
    time_limit = 0.05
    load_time_limit = 0.5


def test_a_program_that_ignores_the_interrupt_is_cut_by_the_evaluations_cpu_budget() -> None:
    # The case: killed, relaunched and reloaded for instance after instance. Every reload is charged (0.3 s
    # of CPU here) and every instance its limit at least (plus what it burns in the interrupt's grace, which
    # depends on how much CPU it gets), so it exhausts the CPU budget (0.5 + 20 x 0.1 + 1 = 3.5 s) within 10
    # instances, before the wall deadline however busy the machine.
    task = StubbornTarget()
    started = time.monotonic()
    result = evaluate(task, STUBBORN_BURNING, "val", secret=TEST_SECRET)
    took = time.monotonic() - started
    assert result.deadline_hit and 10 <= result.failures["deadline"] < 20, result.failures
    assert set(result.failures) == {"timeout", "deadline"}
    assert "CPU budget" in next(o.detail for o in result.outcomes if o.failure == "deadline")
    assert took < deadline_for(task, 20), took


def test_a_program_that_times_out_everywhere_but_stops_when_asked_keeps_every_instance() -> None:
    looping = "def algorithm(a):\n    while True:\n        pass\n"
    result = evaluate(StubbornTarget(), looping, "val", secret=TEST_SECRET)
    assert result.failures == {"timeout": 20} and not result.deadline_hit



def test_no_instance_starts_past_the_deadline_however_costly_each_message() -> None:
    # Each message takes 0.2 s to arrive (as a flood of maximal messages costs the host to decode), and every
    # answer comes: only the deadline can end this early.
    task = ManySmallTask()
    answers = [{"op": "result", "ok": True, "output": i} for i in range(12)]
    sandbox = ScriptedSandbox([[{"op": "loading"}, {"op": "loaded", "ok": True}, *answers]], pause=0.2)
    started = time.monotonic()
    result = evaluate(task, CORRECT, "val", sandbox=sandbox, secret=TEST_SECRET, deadline=1.0)
    assert time.monotonic() - started < 1.0 + 0.5  # at most the message under way when the deadline passed
    assert result.deadline_hit and result.failures["deadline"] >= 9 and sandbox.launched == 1


def test_cpu_burnt_past_the_limit_interrupts_the_program_and_fails_the_instance_as_a_timeout() -> None:
    # The scripted worker burns 0.3 s of CPU per silent wait: the second passes the 0.5 s limit, the program is
    # interrupted, and it answers the interrupt (so it is kept: the next instance runs in the same worker).
    loaded = [{"op": "loading"}, {"op": "loaded", "ok": True}]
    stopped = {"op": "result", "ok": False, "kind": "timeout", "error": "time limit"}
    within = [Burn(0.3), {"op": "result", "ok": True, "output": 0}]
    over = [Burn(0.3), Burn(0.3), stopped]
    sandbox = ScriptedSandbox([[*loaded, *over, *within, *over, *within]])
    result = evaluate(SumTask(), CORRECT, "val", sandbox=sandbox, secret=TEST_SECRET)
    assert [o.failure for o in result.outcomes] == ["timeout", None, "timeout", None], result
    # charged the scripted CPU, and the host's reading of each answer (microseconds)
    assert [o.elapsed for o in result.outcomes] == [pytest.approx(t, abs=0.002) for t in (0.6, 0.3, 0.6, 0.3)]
    assert "0.600s of CPU, over 0.5s" in result.detail and sandbox.launched == 1
    assert sandbox.workers[0].interrupts == 2
    assert result.clock == "scripted"
