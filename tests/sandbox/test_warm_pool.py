"""Warm workers (a zygote pool): the same scores as cold workers, and nothing of one child reaches its zygote or the
next child of the same zygote; a child that may have been altered costs its zygote its sandbox."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_support import program, report_of, root_bwrap, wait_until
from selftaught.errors import UserError, WorkerError
from selftaught.evaluate import evaluate
from selftaught.sandbox import BwrapSandbox, ProcessSandbox, SandboxChoice, WarmPool
from selftaught.sandbox._check import check_sandbox
from selftaught.sandbox._run_file import FileRun, run_file
from selftaught.tasks import get_task
from support import TEST_SECRET, SumTask

SOLVER = (Path(__file__).resolve().parents[1] / "data" / "parity_solver.py").read_text()
ANSWER = "def algorithm(a):\n    return int(a.sum())\n"


@pytest.fixture(scope="module")
def bwrap() -> BwrapSandbox:
    return root_bwrap()


@pytest.fixture
def pool(bwrap: BwrapSandbox) -> Iterator[WarmPool]:
    with WarmPool(bwrap, size=2) as warm:
        warm.warm()
        yield warm


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def next_zygote(pool: WarmPool) -> int:
    """The zygote the next launch takes (the most recently used idle one)."""
    idle = pool.idle()
    assert idle, "no idle zygote"
    return idle[-1]


def run(pool: WarmPool, body: str, timeout: float = 5.0, **params: object) -> tuple[FileRun, int]:
    """Runs a program in the pool; returns the run and the host pid of the zygote that forked its worker."""
    zygote = next_zygote(pool)
    return run_file(pool, program(body, **params), timeout=timeout), zygote


# --- scores --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["solver", "wrong", "raises", "syntax"])
def test_scores_equal_those_of_cold_workers(bwrap: BwrapSandbox, pool: WarmPool, case: str) -> None:
    task = get_task("parity_noise")
    source = {
        "solver": SOLVER,
        "wrong": "import numpy as np\ndef algorithm(a, b, c):\n    return np.zeros(len(c), dtype=int)\n",
        "raises": "def algorithm(a, b, c):\n    raise ValueError('no')\n",
        "syntax": "def algorithm(:\n",
    }[case]
    cold = evaluate(task, source, "val", sandbox=bwrap, secret=TEST_SECRET, seed=3)
    warm = evaluate(task, source, "val", sandbox=pool, secret=TEST_SECRET, seed=3)
    assert (warm.score, warm.failure, warm.failures) == (cold.score, cold.failure, cold.failures), (cold, warm)
    assert [o.score for o in warm.outcomes] == [o.score for o in cold.outcomes]
    if case == "solver":
        assert warm.score > 0.5


def test_seeded_randomness_is_the_same_as_in_a_cold_worker(bwrap: BwrapSandbox, pool: WarmPool) -> None:
    source = ("import random, numpy as np\n"
              "def algorithm(a):\n"
              "    return int(a.sum()) + (random.randrange(2) + int(np.random.randint(2))) * 0\n")
    randomness = ("import random, numpy as np\n"
                  "report(r=random.random(), n=float(np.random.random()))\n")
    assert evaluate(SumTask(), source, "val", sandbox=pool, secret=TEST_SECRET).score == 1.0
    cold = report_of(run_file(bwrap, program(randomness)))
    first = report_of(run_file(pool, program(randomness)))
    second = report_of(run_file(pool, program(randomness)))
    assert first == second == cold  # seeded by `setup` (seed 0) as in a fresh worker, not by the zygote's state


def test_a_clean_evaluation_returns_its_zygote_and_the_next_one_reuses_it(pool: WarmPool) -> None:
    zygote = next_zygote(pool)
    started = pool.started
    for _ in range(3):
        assert evaluate(SumTask(), ANSWER, "val", sandbox=pool, secret=TEST_SECRET).score == 1.0
        assert next_zygote(pool) == zygote
    assert pool.started == started and alive(zygote)


# --- what a child leaves -----------------------------------------------------------------------------------------


LEAVE = '''
import ctypes, os, random, resource, signal, subprocess, sys, time
import numpy
report(pid=os.getpid(), parent=os.getppid())
for path in ("/tmp/left", "/dev/shm/left", "/tmp/dir/inner/file"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("left behind")
os.chmod("/tmp/dir/inner", 0)
# a daemon (double fork, own session) that waits for the next program and goes for it
keep = {1, os.getpid(), os.getppid()}
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        me = os.getpid()
        for _ in range(400):
            for p in os.listdir("/proc"):
                if p.isdigit() and int(p) not in keep | {me}:
                    try:
                        cmd = open(f"/proc/{p}/cmdline", "rb").read()
                        open(f"/tmp/daemon-saw-{p}", "w").write(repr(cmd))
                        open(f"/proc/{p}/environ", "rb").read()
                        os.kill(int(p), signal.SIGKILL)
                    except OSError:
                        pass
            time.sleep(0.01)
        os._exit(0)
    os._exit(0)
os.wait()
# module state shared with the zygote's preloaded modules, and the process's own state
numpy.sum = lambda *a, **k: 42
numpy.leaked = True
random.random = lambda: 0.5
sys.modules["leak"] = sys
os.chdir("/dev/shm")
os.umask(0o777)
resource.setrlimit(resource.RLIMIT_NOFILE, (20, 20))
os.environ["LEAKED"] = "1"
report(left=True)
'''

LOOK = '''
import os, random, resource, sys, time
import numpy
time.sleep(0.3)  # a daemon of the previous program, if one were alive, would have come by now
report(
    pid=os.getpid(),
    processes=sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    tmp=os.listdir("/tmp"), shm=os.listdir("/dev/shm"), mqueue=os.listdir("/dev/mqueue"),
    sum=int(numpy.sum(numpy.arange(4))), leaked=hasattr(numpy, "leaked"),
    random_patched=random.random.__name__ == "<lambda>", leak_module="leak" in sys.modules,
    cwd=os.getcwd(), umask=os.umask(0o022), nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    env="LEAKED" in os.environ,
    sysv=[len(open(f"/proc/sysvipc/{k}").read().splitlines()) for k in ("shm", "msg", "sem")],
)
'''


def test_files_daemons_module_state_and_process_state_never_reach_the_next_child(bwrap: BwrapSandbox,
                                                                                 pool: WarmPool) -> None:
    # What a fresh sandbox's /tmp holds: nothing, unless the interpreter or the code lives under /tmp (then
    # bubblewrap binds it there, read-only): the sweep must keep that, and remove everything else.
    fresh = report_of(run_file(bwrap, program("import os\nreport(tmp=sorted(os.listdir('/tmp')))")))["tmp"]
    first, zygote = run(pool, LEAVE)
    left = report_of(first)
    assert left.get("left") and first.exit_code == 0, first
    assert next_zygote(pool) == zygote and alive(zygote), pool.discarded  # swept clean, back in the pool
    second, same = run(pool, LOOK)
    seen = report_of(second)
    assert same == zygote  # the next program ran in a child of the same zygote
    assert seen["processes"] == sorted({1, left["parent"], seen["pid"]}), seen  # init, the zygote, itself
    assert seen["tmp"] == fresh and seen["shm"] == [] and seen["mqueue"] == [], seen
    assert seen["sum"] == 6 and not seen["leaked"] and not seen["random_patched"] and not seen["leak_module"]
    assert seen["cwd"] == "/tmp" and seen["umask"] == 0o022 and seen["nofile"] == pool.limits.open_files
    assert not seen["env"] and seen["sysv"] == [1, 1, 1], seen
    assert next_zygote(pool) == zygote and alive(zygote)


SYSV = '''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT = 0o1000
made = {"shm": libc.shmget(0x5e1f, 4096, IPC_CREAT | 0o600), "msg": libc.msgget(0x5e1f, IPC_CREAT | 0o600),
        "sem": libc.semget(0x5e1f, 1, IPC_CREAT | 0o600)}
report(made=made, listed=[len(open(f"/proc/sysvipc/{k}").read().splitlines()) for k in ("shm", "msg", "sem")])
'''


def test_system_v_ipc_objects_cost_the_zygote_its_sandbox(pool: WarmPool) -> None:
    first, zygote = run(pool, SYSV)
    made = report_of(first)
    assert all(v >= 0 for v in made["made"].values()) and made["listed"] == [2, 2, 2], made
    assert not alive(zygote) or zygote not in pool.idle()  # detected by the sweep: destroyed
    assert wait_until(lambda: not alive(zygote), 5)
    assert any("System V" in why for why in pool.discarded), pool.discarded
    wait_until(lambda: bool(pool.idle()), 10)
    second, other = run(pool, LOOK)
    assert other != zygote and report_of(second)["sysv"] == [1, 1, 1]


MQUEUE = '''
import ctypes, os
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.mq_open.restype = ctypes.c_int
fd = libc.mq_open(b"/selftaught-left", os.O_CREAT | os.O_RDWR, 0o600, None)
report(fd=fd, errno=ctypes.get_errno(), listed=os.listdir("/dev/mqueue"))
'''
MQUEUE_LOOK = '''
import ctypes, os
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.mq_open(b"/selftaught-left", os.O_RDWR)
report(fd=fd, errno=ctypes.get_errno())
'''


def test_posix_message_queues_are_swept(pool: WarmPool) -> None:
    first, zygote = run(pool, MQUEUE)
    made = report_of(first)
    assert made["fd"] >= 0 and made["listed"] == ["selftaught-left"], made
    second, same = run(pool, MQUEUE_LOOK)
    assert same == zygote and report_of(second) == {"fd": -1, "errno": 2}  # ENOENT: the queue is gone


# --- a child against its zygote ----------------------------------------------------------------------------------


def test_a_child_cannot_read_or_trace_its_zygote(pool: WarmPool) -> None:
    first, zygote = run(pool, '''
        import ctypes, os
        parent = os.getppid()
        def peek(name):
            with open(f"/proc/{parent}/{name}", "rb") as f:
                return f.read(64)
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.ptrace(16, parent, None, None)
        report(parent=parent, mem=attempt(peek, "mem"), environ=attempt(peek, "environ"), maps=attempt(peek, "maps"),
               ptrace=[rc, ctypes.get_errno()], fds=attempt(os.listdir, f"/proc/{parent}/fd"))
    ''')
    seen = report_of(first)
    for name in ("mem", "environ", "maps", "fds"):
        assert not seen[name]["ok"] and seen[name]["errno"] in (1, 13), (name, seen)
    assert seen["ptrace"] == [-1, 1], seen
    assert next_zygote(pool) == zygote and alive(zygote)


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGSTOP"])
def test_signalling_the_zygote_gets_it_replaced_never_a_hang(pool: WarmPool, sig: str) -> None:
    started = time.monotonic()
    first, zygote = run(pool, '''
        import os, signal, time
        report(before=True)
        os.kill(os.getppid(), getattr(signal, SIG))
        time.sleep(0.2)
        report(after=True)
    ''', SIG=sig)
    assert time.monotonic() - started < 4, first
    assert report_of(first)["before"]
    if sig != "SIGSTOP":  # the zygote's sandbox ends with it, this program included
        assert "after" not in report_of(first)
    assert wait_until(lambda: not alive(zygote), 5), f"zygote {zygote} still runs after {sig}"
    assert zygote not in pool.idle() and pool.discarded
    result = evaluate(SumTask(), ANSWER, "val", sandbox=pool, secret=TEST_SECRET)
    assert result.score == 1.0, result


# --- failures that may have altered a child ---------------------------------------------------------------------


@pytest.mark.parametrize("case", ["timeout", "crash", "protocol", "ignores_interrupt"])
def test_a_child_that_failed_costs_its_zygote_its_sandbox(pool: WarmPool, case: str) -> None:
    source = {
        "timeout": "def algorithm(a):\n    while True:\n        pass\n",
        "ignores_interrupt": ("import signal\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
                              "def algorithm(a):\n    while True:\n        pass\n"),
        "crash": "import os\ndef algorithm(a):\n    os._exit(3)\n",
        "protocol": ("import os\ndef algorithm(a):\n    for fd in range(3, 20):\n        try:\n"
                     "            os.write(fd, b'garbage\\n')\n        except OSError:\n            pass\n"
                     "    return int(a.sum())\n"),
    }[case]
    zygote = next_zygote(pool)
    result = evaluate(SumTask(), source, "val", sandbox=pool, secret=TEST_SECRET)
    expected = "timeout" if case == "ignores_interrupt" else case
    assert expected in result.failures, result
    assert wait_until(lambda: not alive(zygote), 5) and zygote not in pool.idle()
    assert evaluate(SumTask(), ANSWER, "val", sandbox=pool, secret=TEST_SECRET).score == 1.0


@pytest.mark.parametrize("where", ["child", "daemon"])
def test_cpu_burnt_in_a_warm_child_or_its_daemon_is_charged_up_to_the_limit(pool: WarmPool, where: str) -> None:
    class Short(SumTask):
        # A limit short beside the wall-clock backstop's extra second (1.1 s for 0.1 s of CPU): a program that
        # computes reaches it by CPU with a tenth of a core, so even a crowded machine stops it by its CPU.
        name = "short"
        split_sizes = {"val": 2, "test": 2}  # noqa: RUF012
        time_limit = 0.1

    burn = ("import os, time\n"
            "def burn():\n"
            "    end = time.process_time() + 5\n"
            "    while time.process_time() < end:\n"
            "        pass\n"
            "def algorithm(a):\n"
            + ("    burn()\n" if where == "child" else
               "    if os.fork() == 0:\n"
               "        os.setsid()\n"
               "        if os.fork() == 0:\n"
               "            burn()\n"
               "        os._exit(0)\n"
               "    os.wait()\n"
               "    time.sleep(5)\n"))
    result = evaluate(Short(), burn, "val", sandbox=pool, secret=TEST_SECRET)
    assert result.failures == {"timeout": 2}, result
    # Stopped by the CPU it was charged (not by the wall-clock backstop, which a busy machine may approach).
    assert all(0.1 < o.elapsed < 0.4 and o.detail.endswith("s of CPU, over 0.1s") for o in result.outcomes), \
        result.outcomes
    assert "of CPU, over 0.1s" in result.detail and result.clock not in ("", "wall clock"), result


# --- the pool itself ---------------------------------------------------------------------------------------------


def test_only_the_bubblewrap_sandbox_can_be_warmed() -> None:
    with pytest.raises(UserError, match="bubblewrap"):
        WarmPool(ProcessSandbox())  # type: ignore[arg-type]


def test_zygotes_that_cannot_start_raise_a_worker_error(bwrap: BwrapSandbox) -> None:
    broken = BwrapSandbox(bwrap=str(Path("/nonexistent/bwrap")))
    with WarmPool(broken) as warm, pytest.raises(WorkerError):
        warm.launch()


def test_many_threads_launch_at_once(pool: WarmPool) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as threads:
        scores = list(threads.map(lambda _: evaluate(SumTask(), ANSWER, "val", sandbox=pool,
                                                     secret=TEST_SECRET).score, range(8)))
    assert scores == [1.0] * 8
    assert len(pool.idle()) <= 2


def test_zygotes_outlive_the_threads_that_asked_for_them(bwrap: BwrapSandbox) -> None:
    # bubblewrap's --die-with-parent fires when the *thread* that started it ends: a zygote started on behalf of a
    # short-lived thread (a meta-utility's pool) must still be there, idle and then reused, once that thread is gone.
    with WarmPool(bwrap, size=2) as warm:
        done: list[float] = []
        for _ in range(2):  # the first thread starts the zygotes (its own and a spare), the second reuses one
            asker = threading.Thread(target=lambda: done.append(
                evaluate(SumTask(), ANSWER, "val", sandbox=warm, secret=TEST_SECRET).score))
            asker.start()
            asker.join()
            time.sleep(0.3)  # a parent-death signal has landed by now
        zygotes = warm.idle()
        assert done == [1.0, 1.0] and zygotes and all(alive(z) for z in zygotes)
        assert warm.discarded == [] and warm.started <= 2
        assert evaluate(SumTask(), ANSWER, "val", sandbox=warm, secret=TEST_SECRET).score == 1.0
        assert warm.discarded == []


def test_a_pool_collected_while_its_sandbox_hands_out_a_uid_does_not_deadlock(bwrap: BwrapSandbox) -> None:
    # The garbage collector may finalize an abandoned pool at any point of any thread: here, in the middle of the
    # sandbox's uid pool handing out a uid (it holds that pool's lock), as a test's next worker start did in CI.
    warm = WarmPool(bwrap, size=1)
    warm.warm()
    zygote = warm.idle()[0]
    finished = threading.Event()

    def collect_while_holding_the_uid_lock() -> None:
        nonlocal warm
        with bwrap.uids._lock:
            del warm
            gc.collect()  # finalizes the pool (its zygote's end releases a uid: the same lock)
        finished.set()

    worker = threading.Thread(target=collect_while_holding_the_uid_lock, daemon=True)
    worker.start()
    assert finished.wait(10), "finalizing a pool deadlocked on the uid pool's lock"
    wait_until(lambda: not alive(zygote), 10)
    assert not alive(zygote)  # and the abandoned zygote is gone all the same


def test_closing_the_pool_ends_every_idle_zygote(bwrap: BwrapSandbox) -> None:
    warm = WarmPool(bwrap)
    warm.warm()
    zygotes = warm.idle()
    assert len(zygotes) == 2 and all(alive(z) for z in zygotes)
    warm.close()
    assert wait_until(lambda: not any(alive(z) for z in zygotes), 5)
    with pytest.raises(WorkerError, match="closed"):
        warm.launch()


def test_the_isolation_checks_hold_on_warm_workers(pool: WarmPool) -> None:
    checks = check_sandbox(SandboxChoice(pool))
    assert all(c.verified for c in checks), [c for c in checks if not c.verified]


def test_a_killed_worker_is_its_zygotes_end(pool: WarmPool) -> None:
    worker = pool.launch(0)
    zygote = worker.zygote_pid
    worker.send({"op": "load", "program": ANSWER, "entrypoint": "algorithm"})
    assert worker.receive(5)["op"] == "loading"
    worker.kill()
    assert worker.closed and wait_until(lambda: not alive(zygote), 5)
    assert zygote not in pool.idle()


LEAVE_AT_LOAD = '''
import os, time
import numpy
with open("/tmp/left-at-load", "w") as f:
    f.write("left behind")
numpy.leaked = True
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.wait()
'''

LOOK_AROUND = '''
import os
import numpy
me, parent = os.getpid(), os.getppid()
report(foreign=[int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me, parent)],
       tmp=sorted(os.listdir("/tmp")), leaked=hasattr(numpy, "leaked"))
'''


@pytest.mark.parametrize(("case", "failure"), [("syntax", "syntax"), ("raises", "exception"),
                                                ("missing", "missing_entrypoint")])
def test_a_program_that_fails_to_load_returns_its_zygote_swept(pool: WarmPool, case: str, failure: str) -> None:
    # A failed load is reported by the protocol, as a last call is: the zygote sweeps and serves again (programs
    # that do not parse are common, and a fresh zygote costs about 0.1 s of a core); what the program left is gone.
    source = {"syntax": "def algorithm(:\n", "raises": LEAVE_AT_LOAD + "raise ValueError('no')\n",
              "missing": LEAVE_AT_LOAD + "def other(a):\n    return 0\n"}[case]
    zygote, started = next_zygote(pool), pool.started
    result = evaluate(SumTask(), source, "val", sandbox=pool, secret=TEST_SECRET)
    assert result.failure == failure, result
    assert next_zygote(pool) == zygote and pool.started == started, pool.discarded
    seen, same = run(pool, LOOK_AROUND)
    assert same == zygote
    assert report_of(seen) == {"foreign": [], "tmp": report_of(run_file(pool, program(
        "import os\nreport(tmp=sorted(os.listdir('/tmp')))")))["tmp"], "leaked": False}
    assert evaluate(SumTask(), ANSWER, "val", sandbox=pool, secret=TEST_SECRET).score == 1.0


def test_no_spare_zygote_starts_while_as_many_as_the_pool_keeps_are_lent(pool: WarmPool) -> None:
    # An executor with `size` workers never has more than `size` programs at once: a spare started while they all
    # run would only be destroyed when they come back. One whose worker is killed is replaced in the background.
    started = pool.started
    first, second = pool.launch(0), pool.launch(0)
    try:
        time.sleep(0.5)
        assert pool.started == started
        first.kill()
        assert wait_until(lambda: pool.started == started + 1, 10)
    finally:
        first.kill()
        second.retire()
    assert wait_until(lambda: len(pool.idle()) == 2, 10)
