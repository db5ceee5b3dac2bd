"""A warm child cannot change what its zygote hands to the next child: its limits, scheduling, affinity, I/O priority.

A child runs as its zygote's uid, so the kernel would let it change the zygote from outside (prlimit, setpriority,
sched_setscheduler, sched_setaffinity, ioprio_set on the zygote's pid). Three defences, each pinned alone:
- the seccomp filter refuses those calls on any process but the caller (a hostile predecessor gets EPERM, and
  the honest program after it sees and scores exactly what it does after an innocent one, and in a cold worker);
- without the filter, the zygote's sweep finds the change (a snapshot of its own state) and discards it;
- a zygote changed behind both (here: by a host process of its uid) is found by the sweep after its next child
  (that child was forked ahead, before the change), and a changed child (the one forked ahead, changed too) fails
  its setup, which the pool retries with a fresh zygote, never a machine fault.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox_support import program, report_of, wait_until
from selftaught.errors import WorkerError
from selftaught.evaluate import evaluate
from selftaught.sandbox import BwrapSandbox, Limits, WarmPool, _seccomp
from selftaught.sandbox._cputime import children
from selftaught.sandbox._guest import _state
from selftaught.sandbox._run_file import run_file
from support import TEST_SECRET, EchoTask

MB = 1 << 20
KINDS = ("address_space", "data", "other_limits", "nice", "policy", "affinity", "ioprio")
# What the sweep names when it finds each kind changed.
SWEEP_NAMES = {
    "address_space": "limit RLIMIT_AS", "data": "limit RLIMIT_DATA", "other_limits": "limit RLIMIT_STACK",
    "nice": "nice value", "policy": "scheduling policy", "affinity": "CPU affinity", "ioprio": "I/O priority",
}
NUMBERS = {**_seccomp._X86_64, **_state._NUMBERS["x86_64"]} if platform.machine() == "x86_64" else \
    {**_seccomp._AARCH64, **_state._NUMBERS["aarch64"]}

# Against its zygote (its parent). `every` (with the filter on): also the forms that name a process group or a whole
# uid, and sched_setattr / sched_setparam; each attempt is reported as {"ok": ..., "errno": ...}.
ATTACK = '''
import ctypes, os, resource, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
P = os.getppid()

def syscall(name, *args):
    ctypes.set_errno(0)
    if libc.syscall(ctypes.c_long(N[name]), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args]) < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

tried = {}
if KIND == "address_space":
    tried["prlimit"] = attempt(resource.prlimit, P, resource.RLIMIT_AS, (200 * MB, 200 * MB))
elif KIND == "data":
    tried["prlimit"] = attempt(resource.prlimit, P, resource.RLIMIT_DATA, (50 * MB, 50 * MB))
elif KIND == "other_limits":
    for name, pair in (("STACK", (MB, MB)), ("NOFILE", (64, 64)), ("MSGQUEUE", (0, 0)), ("SIGPENDING", (8, 8)),
                       ("MEMLOCK", (0, 0)), ("FSIZE", (MB, MB)), ("CPU", (100, 100)), ("NPROC", (5, 5))):
        tried[name] = attempt(resource.prlimit, P, getattr(resource, "RLIMIT_" + name), pair)
elif KIND == "nice":
    tried["process"] = attempt(os.setpriority, os.PRIO_PROCESS, P, 5)
    if EVERY:
        tried["own group"] = attempt(os.setpriority, os.PRIO_PGRP, 0, 5)
        tried["own uid"] = attempt(os.setpriority, os.PRIO_USER, 0, 5)
elif KIND == "policy":
    tried["scheduler"] = attempt(os.sched_setscheduler, P, os.SCHED_BATCH, os.sched_param(0))
    if EVERY:
        tried["param"] = attempt(os.sched_setparam, P, os.sched_param(0))
        attr = ctypes.create_string_buffer(struct.pack("=IIQiIQQQ", 48, os.SCHED_BATCH, 0, 10, 0, 0, 0, 0))
        tried["attr"] = attempt(syscall, "sched_setattr", P, attr, 0)
elif KIND == "affinity":
    tried["affinity"] = attempt(os.sched_setaffinity, P, {min(os.sched_getaffinity(0))})
elif KIND == "ioprio":
    IDLE = 3 << 13  # IOPRIO_CLASS_IDLE
    tried["process"] = attempt(syscall, "ioprio_set", 1, P, IDLE)
    if EVERY:
        tried["own group"] = attempt(syscall, "ioprio_set", 2, 0, IDLE)
        tried["own uid"] = attempt(syscall, "ioprio_set", 3, 0, IDLE)
report(tried=tried)
'''

# The honest program: allocates 100 MB (a lowered data limit would make it fail with MemoryError, and score 0),
# then returns what it inherited.
HONEST = '''
import ctypes, os, resource
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def algorithm(x):
    block = bytearray(100 * MB)
    block[::4096] = b"x" * len(block[::4096])
    attr = ctypes.create_string_buffer(56)
    libc.syscall(ctypes.c_long(N["sched_getattr"]), ctypes.c_long(0), attr, ctypes.c_uint(56), ctypes.c_uint(0))
    limits = {name: list(resource.getrlimit(getattr(resource, name))) for name in sorted(dir(resource))
              if name.startswith("RLIMIT_")}
    return {"limits": limits, "nice": os.getpriority(os.PRIO_PROCESS, 0), "policy": os.sched_getscheduler(0),
            "priority": os.sched_getparam(0).sched_priority, "affinity": sorted(os.sched_getaffinity(0)),
            "ioprio": libc.syscall(ctypes.c_long(N["ioprio_get"]), ctypes.c_long(1), ctypes.c_long(0)),
            "attr": attr.raw.hex()}
'''
INNOCENT = "import os\nreport(parent=os.getppid())\n"


def params(**extra: Any) -> dict[str, Any]:
    return {"MB": MB, "N": NUMBERS, **extra}


@pytest.fixture(scope="module")
def bwrap() -> BwrapSandbox:
    sandbox = BwrapSandbox()
    if os.getuid() != 0 or sandbox.setpriv is None:
        pytest.skip("these tests run as root (a sandbox uid per zygote)")
    if sandbox.seccomp_filter is None:
        pytest.skip(f"no seccomp filter for {platform.machine()}")
    return sandbox


def _pool(sandbox: BwrapSandbox) -> Iterator[WarmPool]:
    with WarmPool(sandbox, size=2) as warm:  # two idle: a launch takes one, and starts no spare meanwhile
        warm.warm()
        yield warm


@pytest.fixture(scope="module")
def pool(bwrap: BwrapSandbox) -> Iterator[WarmPool]:
    yield from _pool(bwrap)


@pytest.fixture(scope="module")
def control(bwrap: BwrapSandbox) -> Iterator[WarmPool]:
    yield from _pool(bwrap)


@pytest.fixture(scope="module")
def unfiltered(bwrap: BwrapSandbox) -> Iterator[WarmPool]:
    yield from _pool(BwrapSandbox(seccomp=False))


def honest(sandbox: Any) -> tuple[float, Any]:
    """The honest program's score and what it saw."""
    task = EchoTask()
    result = evaluate(task, program(HONEST, **params()), "val", sandbox=sandbox, secret=TEST_SECRET)
    return result.score, task.outputs[0] if task.outputs else result.failures


def as_cold(seen: tuple[float, Any]) -> tuple[float, Any]:
    """What a cold worker must see too: a warm child's RLIMIT_NPROC is one higher (its zygote is of its uid)."""
    score, view = seen
    if isinstance(view, dict) and "limits" in view:
        view = {**view, "limits": {k: v for k, v in view["limits"].items() if k != "RLIMIT_NPROC"}}
    return score, view


@pytest.fixture(scope="module")
def cold(bwrap: BwrapSandbox) -> tuple[float, Any]:
    seen = honest(bwrap)
    assert seen[0] == 1.0, seen
    return as_cold(seen)


def skip_unless_it_can_change(kind: str) -> None:
    if kind == "affinity" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: an affinity cannot be narrowed")


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_predecessor_is_refused_and_the_next_program_sees_and_scores_as_after_an_innocent_one(
        pool: WarmPool, control: WarmPool, cold: tuple[float, Any], kind: str) -> None:
    skip_unless_it_can_change(kind)
    pool.warm()
    zygote = pool.idle()[-1]
    tried = report_of(run_file(pool, program(ATTACK, **params(KIND=kind, EVERY=True))))["tried"]
    assert tried and all(not t["ok"] and t["errno"] == 1 for t in tried.values()), tried  # EPERM, every form
    assert report_of(run_file(control, program(INNOCENT)))["parent"]
    after_hostile, after_innocent = honest(pool), honest(control)
    assert after_hostile == after_innocent, (after_hostile, after_innocent)
    assert as_cold(after_hostile) == cold
    assert zygote in pool.idle() and pool.discarded == []  # nothing changed: the zygote served on


@pytest.mark.parametrize("kind", KINDS)
def test_without_the_filter_the_sweep_finds_the_change_and_discards_the_zygote(
        unfiltered: WarmPool, cold: tuple[float, Any], kind: str) -> None:
    skip_unless_it_can_change(kind)
    unfiltered.warm()
    zygote = unfiltered.idle()[-1]
    tried = report_of(run_file(unfiltered, program(ATTACK, **params(KIND=kind, EVERY=False))))["tried"]
    assert any(t["ok"] for t in tried.values()), tried  # the kernel alone allows it: same uid
    assert zygote not in unfiltered.idle()
    assert any(SWEEP_NAMES[kind] in why for why in unfiltered.discarded[-1:]), unfiltered.discarded
    assert as_cold(honest(unfiltered)) == cold  # from a fresh zygote


def _as_uid_of(pid: int, action: Callable[[], None]) -> None:
    """Runs `action` in a forked child of this (root) process as `pid`'s uid and gid: a process of that uid with
    no seccomp filter, and outside the zygote's sandbox (so its sweep never runs for it)."""
    with open(f"/proc/{pid}/status") as f:
        ids = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith(("Uid:", "Gid:"))}
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.setgroups([])
            os.setresgid(ids["Gid"], ids["Gid"], ids["Gid"])
            os.setresuid(ids["Uid"], ids["Uid"], ids["Uid"])
            action()
            code = 0
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0


@pytest.mark.parametrize(("limit", "pair"), [
    pytest.param(resource.RLIMIT_AS, (200 * MB, 200 * MB), id="address_space_hard"),
    pytest.param(resource.RLIMIT_DATA, (50 * MB, 50 * MB), id="data_hard"),
    pytest.param(resource.RLIMIT_DATA, (50 * MB, resource.RLIM_INFINITY), id="data_soft"),
    pytest.param(resource.RLIMIT_STACK, (MB, MB), id="stack_hard"),
])
@pytest.mark.parametrize("changed", ["zygote and child", "zygote alone"])
def test_a_zygote_changed_behind_both_defences_is_retried_never_a_machine_fault(
        bwrap: BwrapSandbox, cold: tuple[float, Any], limit: int, pair: tuple[int, int], changed: str) -> None:
    with WarmPool(bwrap, size=1) as warm:
        warm.warm()
        zygote = warm.idle()[0]
        assert wait_until(lambda: len(children(zygote)) == 1, 5)  # its next child, forked ahead, waits
        targets = [zygote, *children(zygote)] if changed == "zygote and child" else [zygote]
        for pid in targets:
            _as_uid_of(pid, lambda pid=pid: resource.prlimit(pid, limit, pair))
        assert as_cold(honest(warm)) == cold  # the child set every limit explicitly, or a fresh zygote served
        assert zygote not in warm.idle()
        limit_name = {resource.RLIMIT_AS: "RLIMIT_AS", resource.RLIMIT_DATA: "RLIMIT_DATA",
                      resource.RLIMIT_STACK: "RLIMIT_STACK"}[limit]
        if changed == "zygote and child" and pair[1] != resource.RLIM_INFINITY:
            # a hard limit below the host's: the child could not set its own
            assert any("failed to set up" in why and "cannot be set" in why for why in warm.discarded), warm.discarded
        else:  # the child served (it reset a soft limit), and the sweep after it found the zygote changed
            assert any(f"limit {limit_name}" in why for why in warm.discarded), warm.discarded


def test_a_setup_that_fails_in_fresh_zygotes_too_is_a_worker_error_after_a_few_tries(bwrap: BwrapSandbox) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on open files here to ask beyond")
    impossible = BwrapSandbox(Limits(open_files=hard + 1))  # no worker may raise its hard limit
    with WarmPool(impossible, size=1) as warm, pytest.raises(WorkerError, match=r"failed to set up.*RLIMIT_NOFILE"):
        warm.launch()
    assert sum("failed to set up" in why for why in warm.discarded) == WarmPool.ATTEMPTS, warm.discarded


def test_a_child_has_a_session_of_its_own_so_signalling_its_group_spares_the_zygote(pool: WarmPool) -> None:
    pool.warm()
    zygote = pool.idle()[-1]
    run = run_file(pool, program('''
        import os, signal
        report(pid=os.getpid(), group=os.getpgrp(), session=os.getsid(0))
        os.killpg(0, signal.SIGKILL)
    '''))
    seen = report_of(run)
    assert seen["group"] == seen["session"] == seen["pid"], seen
    assert run.signal == 9 and run.limit is None, run
    assert zygote in pool.idle() and pool.discarded == []  # the zygote lived, swept clean


def test_no_file_of_the_zygotes_proc_directory_takes_a_write_from_its_child(pool: WarmPool) -> None:
    # The zygote is not dumpable: its /proc files are not its uid's (oom_score_adj, autogroup, coredump_filter...), and
    # the rest check the writer (timerslack_ns: CAP_SYS_NICE; attr/*: the process itself). The control: its own.
    run = run_file(pool, program('''
        import os
        def writable(top):
            found, tried = [], 0
            for root, dirs, files in os.walk(top):
                if root.count("/") > 4 or root.endswith(("/task", "/net", "/fd", "/fdinfo", "/map_files", "/ns")):
                    dirs[:] = []
                for name in files:
                    path = os.path.join(root, name)
                    tried += 1
                    try:
                        fd = os.open(path, os.O_WRONLY)
                    except OSError:
                        continue
                    try:
                        os.write(fd, b"1")
                        found.append(path[len(top):])
                    except OSError:
                        pass
                    finally:
                        os.close(fd)
            return found, tried
        report(zygote=writable(f"/proc/{os.getppid()}"), own=writable(f"/proc/{os.getpid()}"))
    '''))
    seen = report_of(run)
    written, tried = seen["zygote"]
    assert written == [] and tried > 100, seen
    assert "/timerslack_ns" in seen["own"][0], seen["own"]


def test_the_snapshot_names_each_change_a_process_makes_to_itself() -> None:
    # The sweep's comparison, unit by unit, in a process of its own (this one's state stays as it is).
    code = '''
import ctypes, json, os, resource, sys
sys.path.insert(0, GUEST)
import _state
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
changes = {}
def change(name, fn):
    before = _state.snapshot()
    fn()
    changes[name] = _state.changes(before, _state.snapshot())
soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
change("data soft", lambda: resource.setrlimit(resource.RLIMIT_DATA, (50 << 20, hard)))
change("stack hard", lambda: resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, 1 << 20)))
change("nothing", lambda: None)
change("nice", lambda: os.nice(3))
change("policy", lambda: os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0)))
if len(os.sched_getaffinity(0)) > 1:
    change("affinity", lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
change("ioprio", lambda: libc.syscall(ctypes.c_long(IOPRIO_SET), 1, 0, 3 << 13))
change("timer slack", lambda: libc.prctl(29, 100000, 0, 0, 0))
change("oom score", lambda: open("/proc/self/oom_score_adj", "w").write("500"))
print(json.dumps(changes))
'''
    guest = os.path.dirname(_state.__file__)
    done = subprocess.run([sys.executable, "-c", f"GUEST = {guest!r}\nIOPRIO_SET = {NUMBERS['ioprio_set']}\n" + code],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    changes = json.loads(done.stdout)
    assert changes.pop("data soft") == ["limit RLIMIT_DATA"]
    assert changes.pop("stack hard") == ["limit RLIMIT_STACK"]
    assert changes.pop("nothing") == []
    assert changes.pop("nice") == ["nice value", "scheduling attributes"]
    assert changes.pop("policy") == ["scheduling policy", "scheduling attributes"]
    assert changes.pop("affinity", ["CPU affinity"]) == ["CPU affinity"]
    assert changes.pop("ioprio") == ["I/O priority"]
    assert changes.pop("timer slack") == ["timer slack"]
    assert changes.pop("oom score") == ["OOM score adjustment"]
    assert changes == {}


def test_the_snapshot_holds_every_resource_limit() -> None:
    names = set(_state.rlimits())
    expected = {n for n in dir(resource) if n.startswith("RLIMIT_")} - {"RLIMIT_OFILE"}  # an alias of NOFILE
    assert names == expected and len({getattr(resource, n) for n in names}) == len(names)
