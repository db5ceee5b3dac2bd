"""Host-side helpers for the adversarial sandbox tests: ways to run a program, and looks at the host afterwards.

Two runners run an untrusted program exactly as candidates run:
  - `InProcessRunner` ("root" mode): `run_file` in a bubblewrap sandbox of this (root) test process, which drops
    each worker to a sandbox uid of its own; in "warm" mode, in a `WarmPool` of such sandboxes (workers forked by
    zygotes);
  - `CliRunner` ("user" mode): `selftaught sandbox run FILE --json --sandbox strict` as an ordinary user
    (uid 62000), so bubblewrap builds an unprivileged user namespace. When the interpreter lives under a
    directory other users cannot enter (pyenv under /root, mode 0700), the command is wrapped in a bubblewrap
    mount namespace that hides that directory behind a tmpfs and binds only the interpreter back, read-only
    (`exposing_prefix`; as root, without the uid change, `reachable_root_prefix` serves the process sandbox).

Programs are built by `program(body, **params)`: host-side values become module constants, and `report(**data)`
prints one `REPORT {json}` line that `report_of(run)` reads back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

import selftaught
from selftaught.sandbox import BwrapSandbox, Limits, Sandbox, WarmPool, select_sandbox
from selftaught.sandbox._cputime import children
from selftaught.sandbox._run_file import FileRun, run_file
from selftaught.sandbox._uids import SANDBOX_UID_BASE, SANDBOX_UID_COUNT, SYSTEM_PATH, UidPool, find_setpriv

SANDBOX_UIDS = range(SANDBOX_UID_BASE, SANDBOX_UID_BASE + SANDBOX_UID_COUNT)
# The one sandbox uid a "pinned" sandbox uses for every worker: its programs' uid is known before they run
# (for bystanders of that uid), and consecutive runs reuse it (so leftovers of one run would hurt the next).
PINNED_UID = SANDBOX_UID_BASE + SANDBOX_UID_COUNT - 1
UNPRIVILEGED_UID = 62000
SRC_ROOT = Path(selftaught.__file__).resolve().parent.parent

PRELUDE = '''\
import json as _json


def report(**data):
    """One line the host reads back (everything else the program prints is only evidence)."""
    print("REPORT " + _json.dumps(data, default=repr), flush=True)


def attempt(fn, *args):
    """Calls fn(*args): {"ok": True, "value": ...} or {"ok": False, "error": ..., "errno": ...}."""
    try:
        return {"ok": True, "value": repr(fn(*args))[:300]}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__, "errno": getattr(exc, "errno", None), "text": str(exc)[:200]}


'''


def program(body: str, **params: Any) -> str:
    """A program: the prelude, `params` as module constants (repr'd), then `body` (dedented)."""
    header = "".join(f"{name} = {value!r}\n" for name, value in params.items())
    return PRELUDE + header + "\n" + textwrap.dedent(body)


def reports_of(run: FileRun) -> list[dict[str, Any]]:
    found = []
    for line in run.output.splitlines():
        if line.startswith("REPORT "):
            data = json.loads(line[len("REPORT "):])
            if isinstance(data, dict):
                found.append(data)
    return found


def report_of(run: FileRun) -> dict[str, Any]:
    """Every REPORT line of the run merged (later keys win); fails the test when the program reported nothing."""
    merged: dict[str, Any] = {}
    for data in reports_of(run):
        merged.update(data)
    assert merged, f"the program reported nothing: {run}"
    return merged


# --- runners ---------------------------------------------------------------------------------------------------


class Runner(Protocol):
    mode: str

    @property
    def limits(self) -> Limits: ...

    @property
    def uid(self) -> int | None:
        """The host uid the sandboxed program runs as, when known before it runs."""

    def run(self, source: str, *, timeout: float = 5.0) -> FileRun: ...

    def with_memory(self, memory_mb: int) -> Runner: ...

    def residents(self) -> set[int]:
        """Host pids that stay in a run's PID namespace by design once it ends (warm workers' zygotes, their inits)."""


@dataclass
class InProcessRunner:
    """`run_file` in a sandbox of this process (as root: a bubblewrap sandbox with a per-worker uid)."""

    sandbox: Sandbox
    mode: str = "root"
    pinned: int | None = None

    @property
    def limits(self) -> Limits:
        return self.sandbox.limits

    @property
    def uid(self) -> int | None:
        return self.pinned

    def run(self, source: str, *, timeout: float = 5.0) -> FileRun:
        return run_file(self.sandbox, source, name="adversary.py", timeout=timeout)

    def with_memory(self, memory_mb: int) -> InProcessRunner:
        limits = Limits(memory_mb=memory_mb)
        sandbox: Sandbox = (pinned_sandbox(limits) if self.pinned is not None
                            else select_sandbox("strict", limits).sandbox)
        if isinstance(self.sandbox, WarmPool):
            assert isinstance(sandbox, BwrapSandbox)
            sandbox = WarmPool(sandbox)
        return InProcessRunner(sandbox, self.mode, self.pinned)

    def residents(self) -> set[int]:
        """A warm pool's idle zygotes, the child each has forked ahead (waiting for the next program: it has run
        none) and their sandboxes' inits (a cold sandbox leaves none)."""
        if not isinstance(self.sandbox, WarmPool):
            return set()
        zygotes = set(self.sandbox.idle())
        wait_until(lambda: all(children(z) for z in zygotes), 5)  # forked once the zygote has answered its sweep
        waiting = {child for z in zygotes for child in children(z)}
        return zygotes | waiting | {parent for z in zygotes if (parent := _parent(z)) is not None}


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def pinned_sandbox(limits: Limits | None = None) -> BwrapSandbox:
    """A bubblewrap sandbox whose workers all run as PINNED_UID (root only)."""
    sandbox = BwrapSandbox(limits)
    sandbox.uids = UidPool(PINNED_UID, 1)
    return sandbox


def _private_ancestor(path: str) -> str | None:
    """The top-most directory on the way to `path` (itself included) that other users cannot enter."""
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        candidate = str(Path(*parts[:i]))
        if not os.stat(candidate).st_mode & stat.S_IXOTH:
            return candidate
    return None


def exposing_prefix(paths: Iterable[str] | None = None) -> tuple[list[str] | None, str]:
    """A command prefix under which every user can reach `paths` (default: this interpreter and this checkout's
    source): a bubblewrap mount namespace that hides each directory private to root on the way behind a tmpfs and
    binds those paths back, read-only. No prefix at all ([]) when they are reachable already; (None, why) when it
    cannot be done. The command keeps this process's uid and capabilities."""
    wanted = paths or (sys.base_prefix, sys.prefix, sys.exec_prefix, str(SRC_ROOT))
    needed = sorted({os.path.realpath(p) for p in wanted})
    needed = [p for p in needed if not any(p.startswith(q + "/") for q in needed)]
    hidden: dict[str, list[str]] = {}
    for path in needed:
        private = _private_ancestor(path)
        if private == path:
            return None, f"{path} itself is private to root: it cannot be shown to another user"
        if private is not None:
            hidden.setdefault(private, []).append(path)
    if not hidden:
        return [], ""
    bwrap = shutil.which("bwrap") or shutil.which("bwrap", path=SYSTEM_PATH)
    if bwrap is None:
        return None, "bubblewrap is missing"
    args = [bwrap, "--dev-bind", "/", "/"]
    for private, inner in hidden.items():
        args += ["--tmpfs", private]
        made: set[str] = set()
        for path in inner:
            rel = Path(path).relative_to(private).parts
            for i in range(1, len(rel)):
                parent = str(Path(private, *rel[:i]))
                if parent not in made:
                    made.add(parent)
                    args += ["--perms", "0755", "--dir", parent]
            args += ["--ro-bind", path, path]
    return [*args, "--"], ""


def unprivileged_prefix(uid: int = UNPRIVILEGED_UID) -> tuple[list[str] | None, str]:
    """The command prefix that runs a command as `uid` with this interpreter readable; or (None, why not)."""
    if os.getuid() != 0:
        return None, "switching to an unprivileged uid needs root"
    setpriv = find_setpriv()
    if setpriv is None:
        return None, "setpriv (util-linux) is missing"
    drop = [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--"]
    expose, why = exposing_prefix()
    if expose is None:
        return None, why
    return [*expose, *drop], ""


def reachable_root_prefix() -> tuple[list[str] | None, str]:
    """The command prefix that runs a command as root (this process) where the process sandbox's unprivileged uids
    can reach this interpreter and checkout; or (None, why not)."""
    if os.getuid() != 0:
        return None, "the process sandbox drops to an unprivileged uid only when started as root"
    return exposing_prefix()


def _hidden_from_users(path: str) -> bool:
    try:
        return _private_ancestor(os.path.realpath(path)) is not None
    except OSError:
        return True


@dataclass
class CliRunner:
    """`selftaught sandbox run FILE --json --sandbox strict` as an ordinary user (an unprivileged user namespace)."""

    prefix: list[str]
    workdir: Path
    mode: str = "user"
    memory_mb: int | None = None
    user: int = UNPRIVILEGED_UID
    runs: list[Path] = field(default_factory=list)

    @property
    def limits(self) -> Limits:
        return Limits(memory_mb=self.memory_mb) if self.memory_mb else Limits()

    @property
    def uid(self) -> int | None:
        return self.user

    def run(self, source: str, *, timeout: float = 5.0) -> FileRun:
        path = self.workdir / f"adversary-{len(self.runs)}.py"
        self.runs.append(path)
        path.write_text(source)
        path.chmod(0o644)
        argv = [*self.prefix, sys.executable, "-m", "selftaught", "sandbox", "run", str(path), "--json",
                "--sandbox", "strict", "--timeout", str(timeout)]
        if self.memory_mb:
            argv += ["--memory", str(self.memory_mb)]
        env = dict(os.environ)  # the orchestrator's environment, secrets included: the sandbox must not see them
        if _hidden_from_users(env.get("HOME", "/")):
            env["HOME"] = "/tmp"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPATH"] = str(SRC_ROOT)  # this checkout's code, whatever selftaught is installed (and cwd is)
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.workdir, env=env, timeout=timeout + 60)
        assert done.stdout.startswith("{"), f"the CLI failed ({done.returncode}): {done.stderr[-3000:]}"
        data = json.loads(done.stdout)
        assert done.returncode == data["status"], (done.returncode, data)  # it exits as the program did
        assert data["sandbox"]["name"] == "bwrap" and data["sandbox"]["isolated"], data["sandbox"]
        return FileRun(data["exit_code"], data["signal"], data["limit"], data["output"], data["error"],
                       data["duration"], data["sandbox"]["name"])

    def with_memory(self, memory_mb: int) -> CliRunner:
        return CliRunner(self.prefix, self.workdir, self.mode, memory_mb, self.user, self.runs)

    def residents(self) -> set[int]:
        return set()


def shared_workdir() -> Path:
    """A directory (0755) whose files the unprivileged user can read."""
    path = Path(tempfile.mkdtemp(prefix="selftaught-adversary-"))
    path.chmod(0o755)
    return path


# --- looking at the host -----------------------------------------------------------------------------------------


def _pids() -> Iterable[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def host_processes_with(marker: str) -> list[int]:
    """Host processes whose command line contains `marker`."""
    found = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def pid_namespace_members(namespace: str) -> list[int]:
    """Host processes (zombies included) in the pid namespace `namespace` ("pid:[inode]")."""
    found = []
    for pid in _pids():
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == namespace:
                found.append(pid)
        except OSError:
            continue
    return found


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return {key: value.strip() for key, _, value in (line.partition(":") for line in f)}
    except OSError:
        return {}


def leftovers(namespace: str, residents: set[int] | None = None) -> list[tuple[int, str, str]]:
    """Processes of a finished run still on the host: (pid, uid, state) of its pid namespace's members.

    The run is found by its pid namespace, not by uid alone: other orchestrators on this host may be running
    sandboxes of their own with the same sandbox uids right now. One member is not counted: the sandbox's
    init (bubblewrap, pid 1 inside) once it is a zombie. The orchestrator kills the outer bubblewrap, which
    orphans that init to the host's pid 1, and it stays until the host's init reaps it (about two seconds here).
    Nor are `residents`: a warm zygote, the child it forks ahead and its sandbox's init, which outlive a clean
    run by design.
    """
    found = []
    for pid in pid_namespace_members(namespace):
        if pid in (residents or ()):
            continue
        status = _status(pid)
        if not status:
            continue  # gone meanwhile
        uid, state, inner = status["Uid"].split()[0], status["State"], status["NSpid"].split()[-1]
        if state.startswith("Z") and inner == "1":
            continue
        found.append((pid, uid, state))
    return found


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def tracer_of(pid: int) -> int:
    return int(_status(pid)["TracerPid"])


def spawn_sleeper(uid: int | None = None, *extra: str) -> subprocess.Popen[bytes]:
    """A bystander `sleep 30` on the host (as `uid` when given)."""
    argv = ["sleep", "30", *extra]
    if uid is not None and uid != os.getuid():
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


def accepts_nothing(listener: socket.socket) -> bool:
    """True when nobody has connected to `listener` (checked without waiting)."""
    listener.setblocking(False)
    try:
        conn, _ = listener.accept()
    except (BlockingIOError, InterruptedError):
        return True
    conn.close()
    return False


def host_address() -> str | None:
    """The host's own non-loopback IPv4 address (found by routing a UDP socket: no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 9))
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def root_bwrap() -> BwrapSandbox:
    """The bubblewrap sandbox for warm-pool tests, which run as root (a sandbox uid per zygote; skipped
    otherwise), checked by starting one worker."""
    sandbox = BwrapSandbox()
    if os.getuid() != 0 or sandbox.setpriv is None:
        pytest.skip("these tests run as root (a sandbox uid per zygote)")
    sandbox.launch().kill()
    return sandbox
