"""A limit is charged with the CPU time of the candidate's processes, read by the host: hostile candidates that
sleep, hide their work in threads, children or daemons, burn CPU in the background or forge the worker's clocks
earn nothing; an honest one that fits its CPU budget passes however busy the machine is (the positive control)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from cpu_hog import cpu_hog
from selftaught.evaluate import Evaluation, backstop_for, evaluate
from selftaught.sandbox import BwrapSandbox, Sandbox
from support import TEST_SECRET, SumTask

ANSWER = "    return int(a.sum())\n"
BURN = ("def burn(seconds):\n"
        "    import time\n"
        "    start = time.process_time()\n"
        "    while time.process_time() - start < seconds:\n"
        "        pass\n")


class PairTask(SumTask):
    """SumTask with two instances of 0.3 s each (a backstop of 1.3 s)."""

    name = "pair"
    split_sizes: Mapping[str, int] = {"val": 2, "test": 2}
    time_limit = 0.3


class QuickPairTask(PairTask):
    """Two instances of 0.1 s each, whose backstop (1.1 s) is eleven times the limit: a program that computes
    reaches the CPU limit before it even with a tenth of a core (what these tests need under load)."""

    name = "quick_pair"
    time_limit = 0.1


@pytest.fixture(scope="module", params=["cgroup", "proc"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """The bubblewrap sandbox, reading CPU time from the worker's cgroup, or from its /proc process tree."""
    box = BwrapSandbox()
    if request.param == "proc":
        box.cgroups.version = None  # as an ordinary user: no cgroups
    elif box.cgroups.version is None or (box.cgroups.version == 1 and "cpuacct" not in box.cgroups.bases):
        pytest.skip("no writable cgroup with CPU accounting here")
    return box


def score(program: str, sandbox: Sandbox, task: SumTask | None = None) -> Evaluation:
    return evaluate(task or PairTask(), program, "val", sandbox=sandbox, secret=TEST_SECRET)


def test_a_program_that_sleeps_is_stopped_by_the_wall_clock_backstop(sandbox: Sandbox) -> None:
    started = time.monotonic()
    result = score("import time\ndef algorithm(a):\n    time.sleep(60)\n" + ANSWER, sandbox)
    took = time.monotonic() - started
    assert result.failures == {"timeout": 2} and "wall-clock backstop" in result.detail, result
    # stopped at the backstop, give or take the host's own scheduling on a busy machine
    assert all(o.elapsed < 0.1 and backstop_for(0.3) <= o.wall < backstop_for(0.3) + 0.3 for o in result.outcomes)
    assert took < 2 * (backstop_for(0.3) + 1.0)
    napper = score("import time\ndef algorithm(a):\n    time.sleep(0.6)\n" + ANSWER, sandbox)
    assert napper.score == 1.0, napper  # sleeping past the CPU limit but within the backstop costs nothing


@pytest.mark.parametrize("where", ["thread", "child", "daemon"])
def test_work_done_in_a_thread_a_child_or_a_daemon_is_charged(sandbox: Sandbox, where: str) -> None:
    hide = {
        "thread": ("import threading\n"
                   "def work(seconds):\n"
                   "    t = threading.Thread(target=burn, args=(seconds,))\n"
                   "    t.start()\n"
                   "    t.join()\n"),
        "child": ("import subprocess, sys\n"
                  "def work(seconds):\n"
                  "    code = BURN_SOURCE + f'burn({seconds})'\n"
                  "    subprocess.run([sys.executable, '-c', code], check=True)\n"),
        # forks twice and leaves the session: outside the worker's process group, reparented to the sandbox's pid 1
        "daemon": ("import os\n"
                   "def work(seconds):\n"
                   "    r, w = os.pipe()\n"
                   "    if os.fork() == 0:\n"
                   "        os.setsid()\n"
                   "        if os.fork() == 0:\n"
                   "            burn(seconds)\n"
                   "            os.write(w, b'x')\n"
                   "        os._exit(0)\n"
                   "    os.read(r, 1)\n"),
    }[where]
    program = f"BURN_SOURCE = {BURN!r}\n" + BURN + hide + "def algorithm(a):\n    work(SECONDS)\n" + ANSWER
    # 0.5 s of hidden work against a 0.1 s limit: stopped by the CPU limit (not the backstop), charged over the
    # limit and never more than it burnt (the 0.5 s, and a child's interpreter start).
    over = score(program.replace("SECONDS", "0.5"), sandbox, QuickPairTask())
    assert over.failures == {"timeout": 2} and "of CPU, over 0.1s" in over.detail, over
    assert all(0.1 < o.elapsed < 0.5 + 0.15 for o in over.outcomes), over.outcomes
    within = score(program.replace("SECONDS", "0.12"), sandbox)
    assert within.score == 1.0, within
    # /proc counts a child that ended through its reaper's cutime + cstime, in 10 ms clock ticks
    precision = 0.02 if within.clock == "/proc process tree" else 0.0
    assert all(0.12 - precision <= o.elapsed < 0.3 for o in within.outcomes), within.outcomes


def test_children_the_kernel_reaps_are_charged_by_the_cgroup_and_escape_the_proc_tree(sandbox: Sandbox) -> None:
    # With SIGCHLD ignored, an ended child is reaped by the kernel, not waited for: its time never reaches its
    # parent's cutime, so the /proc reading sees it only while it lives (the host charges the highest reading it
    # saw, about one child's time at most). Work split over many short children escapes it; the cgroup counts it
    # all. A documented limit of the /proc fallback (bounded by the wall-clock backstop); this test keeps the docs
    # honest. 0.1 s of work in all, under the 0.3 s limit, so both pass however busy the machine is.
    program = BURN + (
        "import os, signal\n"
        "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
        "def algorithm(a):\n"
        "    for _ in range(10):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            burn(0.01)\n"
        "            os._exit(0)\n"
        "        try:\n"
        "            os.waitpid(pid, 0)\n"
        "        except ChildProcessError:  # reaped by the kernel\n"
        "            pass\n" + ANSWER
    )
    result = score(program, sandbox)
    assert result.score == 1.0, result
    if result.clock == "/proc process tree":
        assert all(o.elapsed < 0.06 for o in result.outcomes), result.outcomes  # the forks, and one child at most
    else:
        assert all(o.elapsed >= 0.1 for o in result.outcomes), result.outcomes  # every child's 10 ms


# A thread started at load spins for ever; the entrypoint itself only sleeps, until the process's CPU clock (all
# its threads) has moved `SPUN` seconds since the call began, and answers. Its own thread uses no CPU: whatever it
# is charged is the spinning thread's, which it waits for however slowly that thread gets the CPU.
SPINNER = ("import threading, time\n"
           "def spin():\n"
           "    while True:\n"
           "        pass\n"
           "threading.Thread(target=spin, daemon=True).start()\n"
           "def algorithm(a):\n"
           "    start = time.process_time()\n"
           "    while time.process_time() - start < SPUN:\n"
           "        time.sleep(0.002)\n" + ANSWER)


def test_cpu_burnt_by_a_background_thread_during_the_call_is_charged(sandbox: Sandbox) -> None:
    # Charged, it passes the 0.1 s limit long before the spinner's 0.4 s: stopped by the CPU limit. Were the
    # spinner's CPU not charged, the answer would pass or, on a busy machine, meet the wall-clock backstop.
    over = score(SPINNER.replace("SPUN", "0.4"), sandbox, QuickPairTask())
    assert over.failures == {"timeout": 2} and "of CPU, over 0.1s" in over.detail, over
    assert all(o.elapsed > 0.1 for o in over.outcomes), over.outcomes
    # Within the limit it passes, charged at least what the spinner burnt during the call. The sleeping thread's
    # wake-ups and the interpreter's switch interval add a little: 1 to 24 ms (median 9 to 14) over 80 calls
    # beside two busy processes per core, against the 60 ms of headroom here.
    within = score(SPINNER.replace("SPUN", "0.04"), sandbox, QuickPairTask())
    assert within.score == 1.0, within
    assert all(0.04 <= o.elapsed < 0.1 for o in within.outcomes), within.outcomes
    # Without the spinner, sleeping costs nothing.
    sleeper = score("import time\ndef algorithm(a):\n    time.sleep(0.3)\n" + ANSWER, sandbox, QuickPairTask())
    assert sleeper.score == 1.0 and all(o.elapsed < 0.05 for o in sleeper.outcomes), sleeper


def test_forging_the_workers_clocks_changes_nothing(sandbox: Sandbox) -> None:
    # The program keeps the real CPU clock for itself, forges every clock the worker could read, and computes for
    # 0.3 s of real CPU: charged by the host, it is stopped at the 0.1 s limit.
    forge = (
        "import os, resource, time\n"
        "_real = time.process_time\n"
        "time.process_time = lambda: 0.0\n"
        "time.thread_time = lambda: 0.0\n"
        "resource.getrusage = lambda who: None\n"
        "def algorithm(a):\n"
        "    start = _real()\n"
        "    while _real() - start < 0.3:\n"
        "        pass\n" + ANSWER
    )
    result = score(forge, sandbox, QuickPairTask())
    assert result.failures == {"timeout": 2} and "of CPU, over 0.1s" in result.detail, result


def test_a_program_within_its_cpu_budget_passes_under_a_cpu_hog_where_wall_clock_would_fail(sandbox: Sandbox) -> None:
    # The positive control: 0.06 s of CPU per call against a 0.1 s limit, with two more busy processes per core. The
    # calls take longer than 0.1 s of wall time (the old rule would fail them all); charged with CPU time they pass.
    program = BURN + "def algorithm(a):\n    burn(0.06)\n" + ANSWER
    with cpu_hog(per_core=2):
        result = score(program, sandbox, QuickPairTask())
    assert result.score == 1.0 and result.failures == {}, result
    assert all(0.06 <= o.elapsed < 0.1 for o in result.outcomes), result.outcomes
    assert all(o.wall > 0.1 for o in result.outcomes), result.outcomes  # over the limit by the wall clock
