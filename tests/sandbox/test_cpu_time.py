"""The host reads a worker's CPU time from the kernel (its cgroup, else its process tree in /proc): threads, children
that ended and processes still running all count, and nothing the worker's own code does changes the reading."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from selftaught.evaluate import evaluate
from selftaught.sandbox import BwrapSandbox, WorkerProcess
from selftaught.sandbox._cgroup import WorkerCgroup
from selftaught.sandbox._cputime import CgroupCpu, CpuReader, process_cpu, process_tree_cpu
from selftaught.sandbox._process import SINGLE_THREAD_ENV
from support import TEST_SECRET, EchoTask

BURN = "import time\ns = time.process_time()\nwhile time.process_time() - s < {seconds}:\n    pass\n"

# Burns 0.2 s in a thread, 0.2 s in a child that ends (and is reaped), 0.2 s itself, then starts a child that keeps
# burning, and says so on stdout once all that is done.
TREE = f"""
import subprocess, sys, threading
burn = {BURN!r}
t = threading.Thread(target=exec, args=(burn.format(seconds=0.2),))
t.start(); t.join()
subprocess.run([sys.executable, "-c", burn.format(seconds=0.2)], check=True)
exec(burn.format(seconds=0.2))
live = subprocess.Popen([sys.executable, "-c", burn.format(seconds=60)])
print("done", flush=True)
live.wait()
"""


def _settle(read: CpuReader, at_least: float, timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        assert value is not None
        if value >= at_least or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def test_the_process_tree_counts_threads_reaped_children_and_living_ones() -> None:
    proc = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
        read = process_tree_cpu(proc.pid)
        first = read()
        assert first is not None and 0.6 <= first < 1.0, first  # three 0.2 s burns + two interpreters' start
        later = _settle(read, first + 0.3)
        assert later >= first + 0.3  # the living child keeps adding its time
        own = process_cpu(proc.pid)
        assert own is not None and own < later
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # its own process group (a new session): the child goes too
        proc.wait()
    assert process_tree_cpu(proc.pid)() is None  # gone (and reaped): the reading is impossible


def _worker_cpu(worker: WorkerProcess, program: str) -> float:
    worker.send({"op": "load", "program": program + "def algorithm():\n    return 1\n", "entrypoint": "algorithm"})
    assert worker.receive(30)["op"] == "loading"
    before = worker.cpu_time()
    worker.send({"op": "go"})
    assert worker.receive(30)["ok"] is True
    return worker.cpu_time() - before


@pytest.mark.parametrize("clock", ["cgroup", "proc"])
def test_a_bubblewrap_workers_cpu_counts_a_double_forked_daemon(clock: str) -> None:
    # The daemon leaves the worker's process group and session; in a sandbox it stays in the sandbox's cgroup and
    # PID namespace (its pid 1 reaps it), so both readings count it.
    sandbox = BwrapSandbox()
    if clock == "proc":
        sandbox.cgroups.version = None  # as an ordinary user: no cgroups, the process tree instead
    elif sandbox.cgroups.version is None or (sandbox.cgroups.version == 1 and "cpuacct" not in sandbox.cgroups.bases):
        pytest.skip("no writable cgroup with CPU accounting here")
    daemon = (
        "import os, time\n"
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        s = time.process_time()\n"
        "        while time.process_time() - s < 0.4:\n"
        "            pass\n"
        "        os.write(w, b'x')\n"
        "        time.sleep(30)\n"
        "    os._exit(0)\n"
        "os.read(r, 1)\n"
    )
    with sandbox.launch() as worker:
        assert worker.cpu_source.startswith("cgroup" if clock == "cgroup" else "/proc process tree")
        used = _worker_cpu(worker, daemon)
    assert 0.4 <= used < 0.7, used


# What the host's reading adds to the CPU a program burnt itself, between `go` and `loaded` (defining the program,
# the messages): 0.1 to 4.1 ms in 90 runs beside four busy processes on two cores (load average 7 to 10), on both
# clocks. The margin is 25 times that; the reading is never below what the program burnt.
HOST_READING_EXTRA = 0.1


@pytest.mark.parametrize("clock", ["cgroup", "proc"])
def test_forging_the_workers_own_clocks_does_not_change_the_hosts_reading(clock: str) -> None:
    # The program burns 0.3 s of CPU by its process's real clock (kept before it forges them all), so the amount is
    # the same however busy the machine is; the host must charge all of it, forged clocks notwithstanding.
    forge = (
        "import os, resource, time\n"
        "real = time.process_time\n"
        "time.process_time = lambda: 0.0\n"
        "time.process_time_ns = lambda: 0\n"
        "resource.getrusage = lambda who: None\n"
        "os.times = lambda: None\n"
        "s = real()\n"
        "while real() - s < 0.3:\n"
        "    pass\n"
    )
    sandbox = BwrapSandbox()
    if clock == "proc":
        sandbox.cgroups.version = None  # as an ordinary user: no cgroups, the process tree instead
    elif sandbox.cgroups.version is None or (sandbox.cgroups.version == 1 and "cpuacct" not in sandbox.cgroups.bases):
        pytest.skip("no writable cgroup with CPU accounting here")
    with sandbox.launch() as worker:
        assert worker.cpu_source.startswith("cgroup" if clock == "cgroup" else "/proc process tree")
        used = _worker_cpu(worker, forge)
    assert 0.3 <= used < 0.3 + HOST_READING_EXTRA, used


def test_numeric_libraries_run_one_thread_in_a_worker() -> None:
    # A candidate is charged the CPU of all its threads, and idle BLAS/OpenMP pool threads spin: one thread each.
    program = (
        "import os\n"
        "import numpy as np\n"
        "def algorithm(x):\n"
        "    a = np.random.default_rng(0).random((300, 300))\n"
        "    a @ a\n"
        "    np.linalg.inv(a)\n"
        "    return [len(os.listdir('/proc/self/task')), {k: os.environ.get(k) for k in SINGLE}]\n"
    )
    task = EchoTask()
    evaluate(task, f"SINGLE = {list(SINGLE_THREAD_ENV)!r}\n" + program, "val", secret=TEST_SECRET)
    threads, env = task.outputs[0]
    assert threads == 1
    assert env == dict.fromkeys(SINGLE_THREAD_ENV, "1")
    assert {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"} <= set(env)


def test_a_cgroup_reading_through_a_kept_descriptor_is_current() -> None:
    # The host keeps each worker's CPU accounting file open and re-reads it at offset 0; every reading must be the
    # kernel's current count: between two readings that open the file afresh (the control), while a program burns.
    sandbox = BwrapSandbox()
    if sandbox.cgroups.version is None or (sandbox.cgroups.version == 1 and "cpuacct" not in sandbox.cgroups.bases):
        pytest.skip("no writable cgroup with CPU accounting here")
    name = "cpuacct.usage" if sandbox.cgroups.version == 1 else "cpu.stat"
    with sandbox.launch() as worker:
        cgroup = worker._cgroup
        assert isinstance(cgroup, WorkerCgroup) and isinstance(cgroup.cpu, CgroupCpu)
        kept = cgroup.cpu
        fresh = CgroupCpu(next(d for d in cgroup.dirs if (d / name).exists()), sandbox.cgroups.version)
        fresh.file.close()  # read by name each time: open, read, close

        worker.send({"op": "load", "program": BURN.format(seconds=0.5) + "def algorithm():\n    return 1\n",
                     "entrypoint": "algorithm"})
        assert worker.receive(30)["op"] == "loading"
        worker.send({"op": "go"})
        readings = []
        for _ in range(200):
            before, now, after = fresh(), kept(), fresh()
            assert before is not None and now is not None and after is not None
            assert before <= now <= after, (before, now, after)
            readings.append(now)
            time.sleep(0.002)
        assert worker.receive(30)["ok"] is True
    assert readings[-1] - readings[0] >= 0.2, readings  # it moved while the program burnt
    assert kept.file.fd is None  # closed with the cgroup
