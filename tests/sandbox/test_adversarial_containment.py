"""Adversarial programs in the isolating sandbox, each checked FROM THE HOST SIDE: what it tried did not happen.

Every program is our own hostile code, built with host-side values (a listening port, a canary path, this
process's pid, a marker), run exactly as candidates run; the assertions look at the host: the file is absent,
the listener heard nothing, the canary never came out, the bystander lives, no process of the run remains.

Modes: "root" runs `run_file` in this process (bubblewrap, each worker dropped to a sandbox uid 61000+);
"user" runs `selftaught sandbox run --json --sandbox strict` as uid 62000 (an unprivileged user namespace).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import Popen

import pytest

from sandbox_support import (
    PINNED_UID,
    CliRunner,
    InProcessRunner,
    Runner,
    accepts_nothing,
    host_address,
    host_processes_with,
    leftovers,
    pinned_sandbox,
    program,
    report_of,
    reports_of,
    shared_workdir,
    spawn_sleeper,
    stop,
    tracer_of,
    unprivileged_prefix,
    wait_until,
)
from selftaught.errors import UserError
from selftaught.evaluate import evaluate
from selftaught.sandbox import BwrapSandbox, Limits, SandboxChoice, WarmPool, select_sandbox
from selftaught.sandbox._bwrap import GUEST_MOUNT
from selftaught.sandbox._process import GUEST_DIR
from support import TEST_SECRET, SumTask

MODES = ("root", "user", "warm")
ROOT_MODES = ("root", "warm")  # in this process: cold bubblewrap workers, and warm ones (forked by zygotes)
SETTLE = 2.0  # seconds the host allows for a finished run's processes to disappear
EPERM, ESRCH, ENOSPC = errno.EPERM, errno.ESRCH, errno.ENOSPC
Spawner = Callable[[Runner], list[Popen[bytes]]]


# --- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict() -> SandboxChoice:
    select_sandbox.cache_clear()
    try:
        return select_sandbox("strict")
    except UserError as exc:
        pytest.skip(f"full isolation (bubblewrap) is unavailable here, so there is nothing to attack: {exc}")


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = shared_workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _make_runner(mode: str, strict: SandboxChoice, workdir: Path, *, pinned: bool) -> Runner:
    if mode == "root":
        if pinned and os.getuid() == 0:
            return InProcessRunner(pinned_sandbox(), "root", PINNED_UID)
        return InProcessRunner(strict.sandbox)
    if mode == "warm":
        if os.getuid() != 0 or not isinstance(strict.sandbox, BwrapSandbox):
            pytest.skip("warm workers are tried as root, in the bubblewrap sandbox")
        if pinned:
            return InProcessRunner(_warm_pool("pinned", pinned_sandbox), "warm", PINNED_UID)
        sandbox = strict.sandbox
        return InProcessRunner(_warm_pool("strict", lambda: sandbox), "warm")
    prefix, why = unprivileged_prefix()
    if prefix is None:
        pytest.skip(f"the unprivileged (user namespace) runs need another uid: {why}")
    return CliRunner(prefix, workdir)


_POOLS: dict[str, WarmPool] = {}


def _warm_pool(kind: str, make: Callable[[], BwrapSandbox]) -> WarmPool:
    """One warm pool of each kind for the whole module (zygotes are reused across tests, as in a run)."""
    if kind not in _POOLS:
        _POOLS[kind] = WarmPool(make())
    return _POOLS[kind]


@pytest.fixture(scope="module", autouse=True)
def _close_warm_pools() -> Iterator[None]:
    yield
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()


@pytest.fixture(params=MODES)
def runner(request: pytest.FixtureRequest, strict: SandboxChoice, workdir: Path) -> Runner:
    """The isolating sandbox, as root (in-process) or as an ordinary user (through the CLI)."""
    return _make_runner(request.param, strict, workdir, pinned=False)


@pytest.fixture(params=MODES)
def pinned_runner(request: pytest.FixtureRequest, strict: SandboxChoice, workdir: Path) -> Runner:
    """Like `runner`, but the program's host uid is known before it runs and is the same on every run."""
    return _make_runner(request.param, strict, workdir, pinned=True)


@pytest.fixture(params=ROOT_MODES)
def root_runner(request: pytest.FixtureRequest, strict: SandboxChoice, workdir: Path) -> Runner:
    """The isolating sandbox as root only (categories the brief does not ask to repeat as a user), cold or warm."""
    return _make_runner(request.param, strict, workdir, pinned=False)


@pytest.fixture(params=ROOT_MODES)
def pinned_root(request: pytest.FixtureRequest, strict: SandboxChoice, workdir: Path) -> Runner:
    return _make_runner(request.param, strict, workdir, pinned=True)


@pytest.fixture
def token() -> str:
    return secrets.token_hex(6)


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A host directory anyone may write to (0777): only the sandbox keeps a program out of it."""
    path = Path(tempfile.mkdtemp(prefix="selftaught-host-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bystanders() -> Iterator[Spawner]:
    """Starts host `sleep 30` processes: one of this process's uid, one of the uid `runner`'s programs run as."""
    spawned: list[Popen[bytes]] = []

    def spawn(runner: Runner) -> list[Popen[bytes]]:
        processes = [spawn_sleeper()]
        if runner.uid is not None and runner.uid != os.getuid():
            processes.append(spawn_sleeper(runner.uid))
        spawned.extend(processes)
        time.sleep(0.05)
        assert all(p.poll() is None for p in processes)
        return processes

    yield spawn
    for p in spawned:
        stop(p)


def assert_run_left_nothing(namespace: str, runner: Runner | None = None) -> None:
    """No process of the run (of a sandbox uid or any other, zombies included) remains on the host (but for a warm
    runner's zygote, the child it forks ahead and its sandbox's init, which stay by design once the zygote has
    swept)."""
    assert namespace.startswith("pid:["), namespace
    residents = runner.residents() if runner is not None else set()
    wait_until(lambda: not leftovers(namespace, residents), SETTLE)
    assert leftovers(namespace, residents) == []


def assert_next_run_starts(runner: Runner, children: int = 16) -> None:
    """A following run in the same sandbox starts and can still start processes (no EAGAIN from leftovers)."""
    run = runner.run(program('''
        import os
        started = 0
        for _ in range(CHILDREN):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            started += 1
        report(started=started)
    ''', CHILDREN=children), timeout=10)
    assert run.exit_code == 0, run
    assert report_of(run)["started"] == children


# --- 1. writing outside the work dir -----------------------------------------------------------------------------


def test_writes_outside_the_sandbox_never_reach_the_host(runner: Runner, host_dir: Path, token: str) -> None:
    targets = {
        "host_dir": str(host_dir / "escaped.txt"),
        "guest_code": f"{GUEST_MOUNT}/escaped-{token}.py",  # the worker's own code, bound read-only
        "usr": f"/usr/selftaught-escaped-{token}",
        "root": f"/selftaught-escaped-{token}",
    }
    run = runner.run(program('''
        import os
        wrote = {}
        for key, path in TARGETS.items():
            if key == "host_dir":  # the same path exists inside only if the program makes it (in its own /tmp)
                os.makedirs(os.path.dirname(path), exist_ok=True)
            wrote[key] = attempt(lambda p=path: open(p, "w").write("escaped"))
        wrote["tmp"] = attempt(lambda: open("/tmp/inside.txt", "w").write("fine"))
        report(wrote=wrote)
    ''', TARGETS=targets))
    escaped = [path for path in targets.values() if os.path.exists(path)]
    for path in escaped:  # do not leave a failure's litter on the host
        os.unlink(path)
    assert escaped == [], "the program wrote these files on the host"
    assert os.listdir(host_dir) == []
    assert not any(token in name for name in os.listdir(GUEST_DIR)), "the program wrote into the guest code"
    wrote = report_of(run)["wrote"]
    assert wrote["tmp"]["ok"], "writes to the private /tmp must work (else this test proves nothing)"
    for key in ("guest_code", "usr", "root"):
        assert not wrote[key]["ok"], (key, wrote[key])


# --- 2. secrets in the environment -----------------------------------------------------------------------------


def test_the_orchestrators_environment_stays_out(runner: Runner, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = f"sk-canary-{token}"
    monkeypatch.setenv("SELFTAUGHT_ADVERSARY_SECRET", canary)
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    run = runner.run(program('''
        import os
        print("environ:", dict(os.environ))
        readable = []
        for entry in ["self", "1", *sorted(os.listdir("/proc"))]:
            if entry == "self" or entry.isdigit():
                try:
                    with open(f"/proc/{entry}/environ", "rb") as f:
                        print(f"/proc/{entry}/environ:", f.read())
                    readable.append(entry)
                except OSError as exc:
                    print(f"/proc/{entry}/environ:", exc)
        report(keys=sorted(os.environ), readable=readable)
    '''))
    seen = report_of(run)
    assert "PATH" in seen["keys"] and "self" in seen["readable"]
    assert "SELFTAUGHT_ADVERSARY_SECRET" not in seen["keys"] and "OPENAI_API_KEY" not in seen["keys"]
    assert canary not in run.output and canary not in run.error


# --- 3. the home directory ---------------------------------------------------------------------------------------


def test_the_orchestrators_home_is_unreadable(
    root_runner: Runner, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"home-canary-{token}"
    home = Path(tempfile.mkdtemp(prefix="selftaught-home-"))
    home.chmod(0o755)
    (home / ".secret").write_text(canary)
    (home / ".secret").chmod(0o644)
    monkeypatch.setenv("HOME", str(home))
    root_file = Path(f"/root/.selftaught-canary-{token}") if os.getuid() == 0 else None
    if root_file is not None:
        root_file.write_text(canary)
        root_file.chmod(0o644)
    try:
        run = root_runner.run(program('''
            import os
            contents, listings = [], {}
            for path in FILES + [os.path.expanduser("~/.secret")]:
                try:
                    contents.append(open(path).read())
                except OSError as exc:
                    contents.append(exc.errno)
            for path in DIRS:
                try:
                    listings[path] = os.listdir(path)
                except OSError as exc:
                    listings[path] = exc.errno
            print(contents)
            report(home=os.environ.get("HOME"), contents=contents, listings=listings)
        ''', FILES=[str(home / ".secret"), str(root_file)], DIRS=[str(home), "/root", "/home"]))
    finally:
        if root_file is not None:
            root_file.unlink()
        shutil.rmtree(home, ignore_errors=True)
    seen = report_of(run)
    assert seen["home"] != str(home) and len(seen["contents"]) == 3
    assert canary not in run.output, "a canary file of the orchestrator's home was read"
    assert not isinstance(seen["listings"][str(home)], list), seen
    if root_file is not None:
        assert root_file.name not in str(seen["listings"]["/root"]), seen


# --- 4. the parent through /proc ---------------------------------------------------------------------------------


def test_the_host_processes_are_invisible_in_proc(
    runner: Runner, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"proc-canary-{token}"
    monkeypatch.setenv("SELFTAUGHT_ADVERSARY_SECRET", canary)
    holder = Popen([sys.executable, "-c", "import time; time.sleep(30)", canary])  # canary in cmdline and env
    try:
        run = runner.run(program('''
            import os
            opened = {}
            for pid in (HOST_PID, HOLDER_PID, os.getppid(), 1):
                for what in ("environ", "cmdline", "status"):
                    path = f"/proc/{pid}/{what}"
                    try:
                        with open(path, "rb") as f:
                            print(path, f.read())
                        opened[path] = True
                    except OSError as exc:
                        print(path, exc)
                        opened[path] = False
            report(opened=opened, ppid=os.getppid(), host_visible=os.path.exists(f"/proc/{HOST_PID}"))
        ''', HOST_PID=os.getpid(), HOLDER_PID=holder.pid))
    finally:
        stop(holder)
    seen = report_of(run)
    assert not seen["host_visible"] and seen["ppid"] != os.getpid()
    assert not any(v for k, v in seen["opened"].items() if k.startswith(f"/proc/{os.getpid()}/"))
    assert canary not in run.output and canary not in run.error


# --- 5. loopback TCP ---------------------------------------------------------------------------------------------


def test_loopback_listeners_of_the_host_hear_nothing(runner: Runner) -> None:
    listeners = []
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    v4.bind(("127.0.0.1", 0))
    listeners.append(v4)
    try:
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        v6.bind(("::1", 0))
        listeners.append(v6)
    except OSError:  # no IPv6 loopback here
        pass
    try:
        targets = []
        for s in listeners:
            s.listen(8)
            host, port = s.getsockname()[:2]
            targets.append([host, port])
        run = runner.run(program('''
            import socket
            results = {}
            for host, port in TARGETS + [["localhost", TARGETS[0][1]]]:
                def connect(host=host, port=port):
                    socket.create_connection((host, port), timeout=1).close()
                results[f"{host}:{port}"] = attempt(connect)
            report(results=results)
        ''', TARGETS=targets))
        results = report_of(run)["results"]
        assert len(results) == len(targets) + 1
        assert not any(r["ok"] for r in results.values()), results
        assert all(accepts_nothing(s) for s in listeners), "a host listener accepted a connection from the sandbox"
    finally:
        for s in listeners:
            s.close()


# --- 6. unix sockets (abstract and on the filesystem) ------------------------------------------------------------


def test_host_unix_sockets_are_unreachable(runner: Runner, token: str, host_dir: Path) -> None:
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    on_disk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        abstract.bind(f"\0selftaught-test-{token}")
        abstract.listen(8)
        path = str(host_dir / "sock")
        on_disk.bind(path)
        os.chmod(path, 0o777)
        on_disk.listen(8)
        run = runner.run(program('''
            import socket
            results = {}
            for address in ADDRESSES:
                def connect(address=address):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(1)
                    s.connect(address)
                    s.sendall(b"hello from the sandbox")
                    s.close()
                results[repr(address)] = attempt(connect)
            report(results=results)
        ''', ADDRESSES=[f"\0selftaught-test-{token}", path]))
        results = report_of(run)["results"]
        assert len(results) == 2 and not any(r["ok"] for r in results.values()), results
        assert accepts_nothing(abstract) and accepts_nothing(on_disk)
    finally:
        abstract.close()
        on_disk.close()


# --- 7. fork bomb ------------------------------------------------------------------------------------------------

FORK_BOMB = '''
    import os, time
    report(pidns=os.readlink("/proc/self/ns/pid"), uid=os.getuid())
    started = refused = 0
    for _ in range(ATTEMPTS):
        try:
            pid = os.fork()
        except OSError:
            refused += 1
            if refused > 200:
                break
            continue
        if pid == 0:  # every child forks on, for ever
            while True:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.05)
        started += 1
    time.sleep(0.2)
    report(started=started, refused=refused, running=sum(p.isdigit() for p in os.listdir("/proc")))
    time.sleep(0.3)
'''


def test_a_fork_bomb_is_bounded_and_leaves_nothing(pinned_runner: Runner) -> None:
    attempts = 3000
    limit = pinned_runner.limits.processes
    run = pinned_runner.run(program(FORK_BOMB, ATTEMPTS=attempts), timeout=5)
    seen = report_of(run)
    assert run.duration < 5 + 3
    assert 0 < seen["started"] <= 2 * limit < attempts, seen
    if pinned_runner.mode == "root":  # RLIMIT_NPROC of a uid of its own: the limit, plus the sandbox's init
        assert seen["running"] <= limit + 1, seen
    elif pinned_runner.mode == "warm":  # the zygote counts too (same uid), so it has one more: and the init
        assert seen["running"] <= limit + 2, seen
    else:  # the user's other processes (the CLI, unreaped inits of earlier runs) were added to the budget
        assert seen["running"] <= 2 * limit, seen
    if pinned_runner.uid is not None:
        assert seen["uid"] == pinned_runner.uid
    assert_run_left_nothing(seen["pidns"], pinned_runner)
    assert_next_run_starts(pinned_runner)


# --- 8. memory bomb ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["gradual", "at_once"])
def test_a_memory_bomb_hits_the_limit_and_the_host_carries_on(root_runner: Runner, style: str) -> None:
    small = root_runner.with_memory(512)
    body = {
        "gradual": "chunks = []\nwhile True:\n    chunks.append(b'x' * (32 << 20))\n",
        "at_once": "x = bytearray(64 << 30)\n",
    }[style]
    run = small.run(program("import os\nreport(pidns=os.readlink('/proc/self/ns/pid'))\n" + body), timeout=10)
    assert run.limit == "memory" or "MemoryError" in run.error, run
    assert run.duration < 10
    assert_run_left_nothing(report_of(run)["pidns"], small)
    assert_next_run_starts(small)


def test_a_forked_memory_bomb_is_bounded_by_the_memory_limit(strict: SandboxChoice) -> None:
    # Kept small on purpose (6 x 96 MB): over the limit in total, harmless to the host. A per-sandbox
    # cgroup bounds the total where cgroups are writable (as root); rlimits alone bound each process only.
    memory_mb = 256
    sandbox = select_sandbox("strict", Limits(memory_mb=memory_mb)).sandbox
    run = InProcessRunner(sandbox).run(program('''
        import os, time
        holders = []
        for _ in range(6):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    block = b"x" * (96 << 20)
                    os.write(w, b"1")
                except MemoryError:
                    os.write(w, b"0")
                time.sleep(3)
                os._exit(0)
            if os.read(r, 1) == b"1":
                holders.append(pid)
        time.sleep(0.5)
        # A holder the kernel killed (out of memory in its cgroup) no longer holds anything.
        alive = [pid for pid in holders if os.waitpid(pid, os.WNOHANG) == (0, 0)]
        report(held_mb=96 * len(alive))
    '''), timeout=8)
    assert report_of(run)["held_mb"] <= memory_mb


# --- 9. CPU loop -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stubborn", [False, True], ids=["plain", "ignores_interrupt"])
def test_a_cpu_loop_is_ended_by_the_timeout(root_runner: Runner, stubborn: bool) -> None:
    timeout = 1.5
    run = root_runner.run(program('''
        import os, signal
        report(pidns=os.readlink("/proc/self/ns/pid"))
        if STUBBORN:
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        while True:
            try:
                while True:
                    pass
            except BaseException:
                if not STUBBORN:
                    raise
    ''', STUBBORN=stubborn), timeout=timeout)
    assert run.limit == "timeout", run
    assert run.duration < timeout + 3
    assert_run_left_nothing(report_of(run)["pidns"], root_runner)


# --- 10. disk filling --------------------------------------------------------------------------------------------


def test_filling_tmp_and_shm_stops_at_their_size_and_spares_the_host_disk(runner: Runner) -> None:
    before = shutil.disk_usage(tempfile.gettempdir()).free
    run = runner.run(program('''
        import os
        def fill(directory, chunk, per_file):
            written, n = 0, 0
            try:
                while True:
                    with open(os.path.join(directory, f"fill-{n}"), "wb") as f:
                        for _ in range(per_file):
                            f.write(b"x" * chunk)
                            f.flush()
                            written += chunk
                    n += 1
            except OSError as exc:
                return {"written": written, "errno": exc.errno}
        report(tmp=fill("/tmp", 1 << 20, 8), shm=fill("/dev/shm", 1 << 16, 4))
    '''), timeout=20)
    after = shutil.disk_usage(tempfile.gettempdir()).free
    seen = report_of(run)
    tmp_bytes = runner.limits.tmp_mb << 20
    assert seen["tmp"]["errno"] == ENOSPC and tmp_bytes - (8 << 20) <= seen["tmp"]["written"] <= tmp_bytes, seen
    assert seen["shm"]["errno"] == ENOSPC and seen["shm"]["written"] <= 1 << 20, seen
    assert before - after < 16 << 20, f"the host's free disk dropped by {(before - after) >> 20} MB"


# --- 11. killing the parent, 12. kill -9 -1, 19. signals to pid 1 and to itself ----------------------------------


def test_killing_the_parent_hits_nothing(pinned_runner: Runner, bystanders: Spawner) -> None:
    others = bystanders(pinned_runner)
    run = pinned_runner.run(program('''
        import os, signal, time
        tried = {
            "host": attempt(os.kill, HOST_PID, signal.SIGKILL),
            "host_group": attempt(os.killpg, HOST_PGID, signal.SIGKILL),
            "bystanders": [attempt(os.kill, pid, signal.SIGKILL) for pid in BYSTANDERS],
        }
        report(tried=tried, pidns=os.readlink("/proc/self/ns/pid"))
        parent = attempt(os.kill, os.getppid(), signal.SIGKILL)
        time.sleep(0.3)
        report(parent=parent)
    ''', HOST_PID=os.getpid(), HOST_PGID=os.getpgid(0), BYSTANDERS=[p.pid for p in others]))
    seen = report_of(run)
    if pinned_runner.mode == "warm":
        # its parent is its zygote (same uid): killing it ends the zygote's sandbox, this program with it
        assert "parent" not in seen and run.exit_code is None, run
        assert_run_left_nothing(seen["pidns"])  # the zygote included
    else:  # the program outlived its attempt on its parent: the sandbox's init ignored it
        assert run.exit_code == 0 and "parent" in seen, run
    assert seen["tried"]["host"]["errno"] == ESRCH and seen["tried"]["host_group"]["errno"] == ESRCH
    assert all(t["errno"] == ESRCH for t in seen["tried"]["bystanders"])
    # this test process is still running (else we would not be here), and so are the bystanders
    assert all(p.poll() is None for p in others)
    assert_run_left_nothing(seen["pidns"], pinned_runner)
    assert_next_run_starts(pinned_runner, children=2)


def test_kill_minus_one_kills_only_inside_the_sandbox(pinned_root: Runner, bystanders: Spawner) -> None:
    others = bystanders(pinned_root)
    run = pinned_root.run(program('''
        import os, signal, subprocess, time
        report(pidns=os.readlink("/proc/self/ns/pid"))
        sibling = subprocess.Popen(["sleep", "30"])
        time.sleep(0.1)
        result = attempt(os.kill, -1, signal.SIGKILL)
        sibling.wait(timeout=5)
        report(kill=result, sibling=sibling.returncode)
    '''))
    seen = report_of(run)
    if pinned_root.mode == "warm":
        # It reached its zygote too: the zygote's sandbox ends, this program with it (which may have reported
        # first: the sandbox's init ends it a moment later). Nothing of that sandbox stays, not even the zygote.
        assert "kill" not in seen or seen["kill"]["ok"], seen
        assert_run_left_nothing(seen["pidns"])
    else:
        assert seen["kill"]["ok"] and seen["sibling"] == -signal.SIGKILL, seen  # it did kill inside the sandbox
    time.sleep(0.1)
    assert all(p.poll() is None for p in others), "kill -9 -1 in the sandbox killed a host process"
    assert_run_left_nothing(seen["pidns"], pinned_root)
    assert_next_run_starts(pinned_root, children=2)


@pytest.mark.parametrize("how", ["kill_self", "stop_self"])
def test_signals_to_the_sandboxs_init_and_itself_stay_inside(
    pinned_root: Runner, bystanders: Spawner, how: str
) -> None:
    others = bystanders(pinned_root)
    timeout = 1.5
    run = pinned_root.run(program('''
        import os, signal
        tried = {name: attempt(os.kill, 1, getattr(signal, name)) for name in ("SIGTERM", "SIGSTOP", "SIGCONT",
                                                                             "SIGKILL")}
        report(tried=tried, pidns=os.readlink("/proc/self/ns/pid"))
        os.kill(os.getpid(), signal.SIGKILL if HOW == "kill_self" else signal.SIGSTOP)
        report(survived=True)
    ''', HOW=how), timeout=timeout)
    seen = report_of(run)
    assert "survived" not in seen and len(seen["tried"]) == 4
    if how == "stop_self":
        assert run.limit == "timeout" and run.duration < timeout + 3, run
    else:
        assert run.exit_code != 0 and run.duration < timeout, run
    assert all(p.poll() is None for p in others)
    assert_run_left_nothing(seen["pidns"], pinned_root)
    assert_next_run_starts(pinned_root, children=2)


# --- 13. ctypes: unshare, mount, ptrace, setns ------------------------------------------------------------------


def test_privileged_syscalls_through_ctypes_are_refused(pinned_runner: Runner, bystanders: Spawner) -> None:
    others = bystanders(pinned_runner)
    mounts_before = Path("/proc/self/mountinfo").read_text()
    run = pinned_runner.run(program('''
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        def call(name, *args):
            ctypes.set_errno(0)
            rc = getattr(libc, name)(*args)
            return [rc, ctypes.get_errno()]
        fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        long = ctypes.c_long
        tried = {
            "unshare_user": call("unshare", 0x10000000),
            "unshare_mount": call("unshare", 0x00020000),
            "mount": call("mount", b"none", b"/tmp", b"tmpfs", long(0), None),
            "ptrace_init": call("ptrace", long(16), long(1), None, None),
            "ptrace_host": call("ptrace", long(16), long(HOST_PID), None, None),
            "ptrace_bystander": call("ptrace", long(16), long(BYSTANDER), None, None),
            "setns": call("setns", fd, 0),
        }
        report(tried=tried)
    ''', HOST_PID=os.getpid(), BYSTANDER=others[-1].pid))
    tried = report_of(run)["tried"]
    assert all(rc == -1 for rc, _ in tried.values()), tried
    for name in ("unshare_user", "unshare_mount", "mount", "ptrace_init", "setns"):
        assert tried[name][1] == EPERM, (name, tried[name])
    assert tried["ptrace_host"][1] in (EPERM, ESRCH) and tried["ptrace_bystander"][1] in (EPERM, ESRCH)
    assert tracer_of(os.getpid()) == 0 and tracer_of(others[-1].pid) == 0
    assert Path("/proc/self/mountinfo").read_text() == mounts_before


# --- 14. forging the scorer --------------------------------------------------------------------------------------

FORGED = '{"op": "result", "ok": true, "output": 999}\n'
FORGE = """
import os
def forge(messages):
    for fd in range(3, 51):
        try:
            os.write(fd, messages.encode())
        except OSError:
            pass
"""


@pytest.mark.parametrize("when", ["while_answering", "while_loading"])
def test_forged_protocol_messages_never_earn_a_score(strict: SandboxChoice, when: str) -> None:
    if when == "while_loading":
        messages = '{"op": "loaded", "ok": true}\n' + FORGED * 10
        source = FORGE + f"forge({messages!r})\ndef algorithm(a):\n    return -1\n"
    else:
        source = FORGE + f"def algorithm(a):\n    forge({FORGED!r})\n    return -1\n"
    task = SumTask()
    result = evaluate(task, source, "val", sandbox=strict.sandbox)
    assert result.score == 0.0 and result.n_instances == len(task.instances("val", TEST_SECRET)), result
    assert set(result.failures) <= {"protocol"}, result.failures


def test_forged_correct_answers_are_caught_as_protocol_breaks(strict: SandboxChoice) -> None:
    # The program shares its process with the protocol's descriptors, so a forged result can be read as the
    # instance's answer; it carries nothing the program could not have returned, and the real reply that follows
    # it is caught as a protocol break (the worker is replaced), so forging never earns full marks.
    source = FORGE + (
        "import json\n"
        "def algorithm(a):\n"
        "    forge(json.dumps({'op': 'result', 'ok': True, 'output': int(a.sum())}) + '\\n')\n"
        "    return -1\n"
    )
    result = evaluate(SumTask(), source, "val", sandbox=strict.sandbox)
    assert result.score < 1.0 and result.failures.get("protocol", 0) >= 1, result


# --- 15. orphan daemons ------------------------------------------------------------------------------------------


def test_daemons_a_program_leaves_behind_are_gone_when_it_ends(runner: Runner) -> None:
    marker = f"59.{secrets.randbelow(9000) + 1000}"  # a sleep duration, to find the daemons from the host
    source = program('''
        import os, subprocess, sys, threading, time
        report(pidns=os.readlink("/proc/self/ns/pid"))

        def detach(then):
            """Double fork and setsid: the grandchild is an orphan in a session of its own."""
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    then()
                    os._exit(0)
                os._exit(0)
            os.wait()

        detach(lambda: os.execvp("sleep", ["sleep", MARKER]))
        def python_daemon():
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
            os.execv(sys.executable, [sys.executable, "-c",
                                      "import threading, time\\n"
                                      "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\\n"
                                      "time.sleep(60)\\n", MARKER])
        detach(python_daemon)
        def forked_thread():
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
            time.sleep(60)
        detach(forked_thread)
        subprocess.Popen(["setsid", "nohup", "sleep", MARKER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        report(done=True)
    ''', MARKER=marker)
    seen_during: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(runner.run, source, timeout=6)
        while not future.done():
            seen_during = max(seen_during, host_processes_with(marker), key=len)
            time.sleep(0.05)
        run = future.result()
    seen = report_of(run)
    assert seen["done"] and len(seen_during) >= 3, f"the daemons never started: {seen_during}, {run}"
    wait_until(lambda: not host_processes_with(marker), SETTLE)
    assert host_processes_with(marker) == []
    assert_run_left_nothing(seen["pidns"], runner)


# --- 16. nested user namespaces ----------------------------------------------------------------------------------


def test_nested_user_namespaces_are_refused(runner: Runner) -> None:
    run = runner.run(program('''
        import ctypes, os, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        before = os.readlink("/proc/self/ns/user")
        rc = libc.unshare(0x10000000)
        err = ctypes.get_errno()
        cli = subprocess.run(["unshare", "-U", "true"], capture_output=True, text=True)
        mapped = subprocess.run(["unshare", "-U", "-r", "id", "-u"], capture_output=True, text=True)
        report(rc=rc, errno=err, same=os.readlink("/proc/self/ns/user") == before, cli=cli.returncode,
               cli_err=cli.stderr, mapped=mapped.returncode, mapped_out=mapped.stdout)
    '''))
    seen = report_of(run)
    assert seen["rc"] == -1 and seen["errno"] == EPERM and seen["same"], seen
    assert seen["cli"] != 0 and "unshare" in seen["cli_err"], seen
    assert seen["mapped"] != 0 and seen["mapped_out"].strip() != "0", seen


# --- 17. raising rlimits -----------------------------------------------------------------------------------------


def test_rlimits_cannot_be_raised(root_runner: Runner) -> None:
    runner = root_runner
    marker = f"58.{secrets.randbelow(9000) + 1000}"
    source = program('''
        import resource, subprocess, time
        tried = {}
        for name in ("RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CPU"):
            which = getattr(resource, name)
            soft, hard = resource.getrlimit(which)
            tried[name] = {
                "hard": hard,
                "above_hard": attempt(resource.setrlimit, which, (hard + 1, hard + 1)),
                "infinity": attempt(resource.setrlimit, which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)),
                "prlimit": attempt(resource.prlimit, 0, which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)),
            }
        child = subprocess.Popen(["sleep", MARKER])  # inherits the limits: the host reads them
        time.sleep(1.0)
        child.kill()
        report(tried=tried)
    ''', MARKER=marker)
    limits_seen: dict[str, str] = {}
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(runner.run, source, timeout=6)
        while not future.done() and not limits_seen:
            for pid in host_processes_with(marker):
                try:
                    text = Path(f"/proc/{pid}/limits").read_text()
                except OSError:
                    continue
                limits_seen = {line[:26].strip(): line[26:].split()[1] for line in text.splitlines()[1:]}
            time.sleep(0.05)
        run = future.result()
    tried = report_of(run)["tried"]
    for name, t in tried.items():
        assert not t["above_hard"]["ok"] and not t["infinity"]["ok"] and not t["prlimit"]["ok"], (name, t)
        assert t["above_hard"]["error"] in ("ValueError", "PermissionError"), (name, t)
    assert limits_seen, "the host never saw the program's child"
    assert limits_seen["Max address space"] == str(runner.limits.memory_mb << 20)
    assert limits_seen["Max processes"] == str(tried["RLIMIT_NPROC"]["hard"]) != "unlimited"
    if runner.mode == "root":
        assert limits_seen["Max processes"] == str(runner.limits.processes)
    if runner.mode == "warm":  # its zygote runs as the same uid, so the child may count one more
        assert limits_seen["Max processes"] == str(runner.limits.processes + 1)


# --- 18. /etc/shadow and other host files ------------------------------------------------------------------------


def test_host_files_are_not_there(root_runner: Runner, token: str) -> None:
    runner = root_runner
    readme = Path(__file__).resolve().parents[2] / "README.md"
    canary = f"etc-canary-{token}"
    etc_file = Path(f"/etc/selftaught-canary-{token}") if os.getuid() == 0 else None
    if etc_file is not None:
        etc_file.write_text(canary)
        etc_file.chmod(0o644)
    try:
        run = runner.run(program('''
            import os
            got = {}
            for path in PATHS:
                try:
                    with open(path, "rb") as f:
                        data = f.read(4096)
                    print(path, data)
                    got[path] = True
                except OSError as exc:
                    got[path] = exc.errno
            report(got=got)
        ''', PATHS=["/etc/shadow", "/etc/passwd", "/etc/hostname", str(etc_file), "/proc/1/root/etc/shadow",
                    "/../../etc/shadow", str(readme), os.path.expanduser("~root/.bash_history")]))
    finally:
        if etc_file is not None:
            etc_file.unlink()
    got = report_of(run)["got"]
    assert not any(v is True for v in got.values()), got
    assert canary not in run.output
    for host_file in (Path("/etc/shadow"), Path("/etc/passwd"), readme):
        try:
            first = host_file.read_text().splitlines()[0]
        except (OSError, IndexError):
            continue
        assert first not in run.output, f"{host_file} leaked"


# --- 20. state left for the next candidate -----------------------------------------------------------------------


def test_nothing_carries_over_to_the_next_run(runner: Runner, token: str) -> None:
    names = [f"/tmp/marker-{token}", f"/dev/shm/marker-{token}", f"/tmp/.cache-{token}/x"]
    first = runner.run(program('''
        import os
        for path in NAMES:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("left behind")
        report(wrote=[os.path.exists(p) for p in NAMES])
    ''', NAMES=names))
    second = runner.run(program('''
        import os
        report(seen=[os.path.exists(p) for p in NAMES], tmp=os.listdir("/tmp"), shm=os.listdir("/dev/shm"))
    ''', NAMES=names))
    assert report_of(first)["wrote"] == [True, True, True]
    seen = report_of(second)
    assert seen["seen"] == [False, False, False] and seen["shm"] == [], seen
    assert not any(token in name for name in seen["tmp"]), seen
    assert not any(os.path.exists(p) for p in names), "the marker landed on the host"


# --- 21. network -------------------------------------------------------------------------------------------------


def test_there_is_no_network_at_all(root_runner: Runner) -> None:
    runner = root_runner
    # Nothing is sent anywhere: in the sandbox's network namespace there is no route, so connect() fails at once.
    address = host_address()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((address or "127.0.0.1", 0))
        listener.listen(8)
        run = runner.run(program('''
            import socket, time
            def timed(fn, *args):
                started = time.monotonic()
                result = attempt(fn, *args)
                result["seconds"] = time.monotonic() - started
                return result
            def connect(host, port):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    s.connect((host, port))
            def udp(host, port):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(b"x", (host, port))
            report(
                interfaces=[name for _, name in socket.if_nameindex()],
                outbound=timed(connect, "10.0.0.1", 80),
                udp=timed(udp, "10.0.0.1", 53),
                dns=timed(socket.getaddrinfo, "example.com", 80),
                host=timed(connect, HOST, PORT),
            )
        ''', HOST=listener.getsockname()[0], PORT=listener.getsockname()[1]))
        seen = report_of(run)
        assert accepts_nothing(listener), "the host's listener was reached from the sandbox"
    finally:
        listener.close()
    assert seen["interfaces"] == ["lo"], seen
    assert seen["outbound"]["errno"] == errno.ENETUNREACH and seen["outbound"]["seconds"] < 0.5, seen
    assert seen["udp"]["errno"] == errno.ENETUNREACH, seen
    assert not seen["dns"]["ok"] and seen["dns"]["seconds"] < 1.0, seen
    assert not seen["host"]["ok"] and seen["host"]["seconds"] < 0.5, seen


# --- 22. /proc/<pid>/mem of the host -----------------------------------------------------------------------------


def test_the_host_processs_memory_is_unreadable(root_runner: Runner, token: str) -> None:
    runner = root_runner
    secret = f"mem-canary-{token}".encode()
    address = id(secret) + sys.getsizeof(b"") - 1  # where CPython keeps a bytes object's data
    run = runner.run(program('''
        import ctypes, os
        got = {}
        for pid in (HOST_PID, 1, os.getppid()):
            def peek(pid=pid):
                with open(f"/proc/{pid}/mem", "rb") as f:
                    f.seek(ADDRESS)
                    return f.read(64)
            got[f"mem:{pid}"] = attempt(peek)
        class IoVec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        buf = ctypes.create_string_buffer(64)
        local, remote = IoVec(ctypes.addressof(buf), 64), IoVec(ADDRESS, 64)
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.process_vm_readv(HOST_PID, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        got["process_vm_readv"] = [rc, ctypes.get_errno(), buf.raw.hex()]
        print(got)
        report(got=got)
    ''', HOST_PID=os.getpid(), ADDRESS=address))
    got = report_of(run)["got"]
    assert secret.hex() not in run.output and secret.decode() not in run.output
    assert not got[f"mem:{os.getpid()}"]["ok"] and got["process_vm_readv"][0] == -1, got
    assert Path(f"/proc/{os.getpid()}/mem").exists()  # the host process is alive and its memory intact
    assert secret == f"mem-canary-{token}".encode()


# --- 23. symlinks in /tmp ----------------------------------------------------------------------------------------


def test_symlinks_in_tmp_lead_nowhere_on_the_host(root_runner: Runner, token: str, host_dir: Path) -> None:
    runner = root_runner
    canary = f"link-canary-{token}"
    secret = host_dir / "secret.txt"
    secret.write_text(canary)
    secret.chmod(0o644)
    run = runner.run(program('''
        import os
        got = {}
        for i, target in enumerate(TARGETS):
            link = f"/tmp/link-{i}"
            os.symlink(target, link)
            try:
                with open(link, "rb") as f:
                    print(target, f.read())
                got[target] = True
            except OSError as exc:
                got[target] = exc.errno
        os.symlink("/", "/tmp/root")
        listing = os.listdir("/tmp/root")
        hard = attempt(os.link, SECRET, "/tmp/hard")
        report(got=got, listing=listing, hard=hard, made=sorted(os.listdir("/tmp")))
    ''', SECRET=str(secret), TARGETS=[str(secret), f"/proc/1/root{secret}", f"/proc/1/cwd/../..{secret}",
                                      f"/proc/{os.getpid()}/root{secret}", f"/proc/{os.getpid()}/cwd"]))
    seen = report_of(run)
    assert canary not in run.output
    assert not any(v is True for v in seen["got"].values()), seen
    assert not seen["hard"]["ok"]
    assert "link-0" in seen["made"]  # the links were made, inside the sandbox only
    assert os.listdir(host_dir) == ["secret.txt"]
    assert not any(os.path.lexists(f"/tmp/link-{i}") and os.readlink(f"/tmp/link-{i}") == str(secret)
                   for i in range(5))


# --- the tests themselves ----------------------------------------------------------------------------------------


def test_reports_are_read_from_the_programs_output(root_runner: Runner) -> None:
    run = root_runner.run(program("report(a=1)\nprint('noise')\nreport(b=[2])\n"))
    assert reports_of(run) == [{"a": 1}, {"b": [2]}] and report_of(run) == {"a": 1, "b": [2]}

