"""The reduced-isolation sandbox: a separate process with rlimits, a scrubbed environment, as root a uid of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import site
import sys
from functools import cached_property
from pathlib import Path

from selftaught.errors import UserError
from selftaught.sandbox._cgroup import Cgroups
from selftaught.sandbox._uids import UidPool, blocker, drop_to, find_setpriv
from selftaught.sandbox._worker_process import Launch, Limits, WorkerProcess

GUEST_DIR = Path(__file__).resolve().parent / "_guest"
WORKER_SCRIPT = GUEST_DIR / "worker.py"
# Variables passed through to workers: none are secrets; they keep numeric libraries correct.
PASSTHROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TZ")
# One thread for every common numeric library's pool: a candidate is charged the CPU time of all its
# threads, and idle pool threads spin (OpenBLAS, OpenMP), so more threads would cost it time, not save it.
SINGLE_THREAD_ENV = (
    "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "OMP_THREAD_LIMIT", "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS",
    "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS", "POLARS_MAX_THREADS",
)


def worker_environment() -> dict[str, str]:
    """The environment a worker starts with: rebuilt from nothing, no secrets of the orchestrator.

    HOME and TMPDIR are added where the worker's private directory is known.
    """
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        **dict.fromkeys(SINGLE_THREAD_ENV, "1"),
    }
    for key in PASSTHROUGH_ENV:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def user_process_count(uid: int) -> int:
    """How many processes `uid` runs now (RLIMIT_NPROC counts them all, not just the sandbox's)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def kill_user_processes(uid: int) -> int:
    """Kills every process `uid` runs (daemons that left the worker's process group); returns how many."""
    killed = 0
    for _ in range(3):  # a process may fork while we look: look again
        found = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and _owner(e.path) == uid]
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        if not found:
            break
    return killed


def _owner(path: str) -> int | None:
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def _needed() -> list[tuple[str, str, int]]:
    """What a worker must reach: (what, path, permission bits: 1 enter/execute, 4 read)."""
    needed = [("the Python interpreter", sys.executable, 1),
              ("the Python standard library", os.path.dirname(os.__file__), 5),
              ("the worker's code", str(GUEST_DIR), 5)]
    venv = os.path.join(sys.prefix, "pyvenv.cfg")
    if os.path.exists(venv):
        needed.append(("the virtualenv's configuration", venv, 4))
    needed += [("the site-packages directory", p, 5) for p in site.getsitepackages() if os.path.isdir(p)]
    return needed


def unreachable(uid: int) -> str | None:
    """Why `uid` cannot run a worker with this interpreter (one line, with the fix), or None when it can."""
    for what, path, bits in _needed():
        found = blocker(uid, path, bits)
        if found is None:
            continue
        where, mode = found
        if where == os.path.realpath(path) or where == os.path.abspath(path):
            fix = f"`chmod -R o+rX {where}`"
        else:
            fix = f"`chmod o+x {where}`"
        return (f"the process sandbox runs programs as an unprivileged uid ({uid}), which cannot reach {what} "
                f"{path}: {where} is mode {mode:04o}. Fix: let other users reach it ({fix}), or use a Python "
                "installed where they can (e.g. /usr/bin/python3 or /opt), or use the bubblewrap sandbox "
                "(--sandbox auto or strict)")
    return None


class ProcessSandbox:
    """Runs each program in a separate process: own process group, scrubbed environment, rlimits.

    As root, each program runs as an unprivileged uid of its own (from the same pool as bubblewrap's),
    with no capabilities and no_new_privs, in a home directory that uid owns, so RLIMIT_NPROC binds
    and the orchestrator's /proc entries (its environment, its memory) are closed to it. Where that
    uid cannot reach the interpreter, the sandbox refuses to start rather than run programs as root.

    Reduced isolation still: the program shares the host's filesystem view, network and process
    table, so it is a fallback, announced as such (see `selftaught.sandbox.select_sandbox`).
    """

    name = "process"
    isolated = False

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.cgroups = Cgroups()
        self.as_root = os.getuid() == 0
        self.setpriv = find_setpriv() if self.as_root else None
        self.uids = UidPool()

    @cached_property
    def _problem(self) -> str | None:
        if not self.as_root:
            return None
        if self.setpriv is None:
            return ("the process sandbox drops root with setpriv, which is missing. Fix: install util-linux, "
                    "or use the bubblewrap sandbox (--sandbox auto or strict)")
        return unreachable(self.uids.base)

    def refusal(self) -> str | None:
        """Why programs cannot run here (as root: no unprivileged uid to drop to), or None when they can."""
        return self._problem

    def launch(self, seed: int = 0) -> WorkerProcess:
        """Starts a fresh worker for one program (in its own cgroups where they are writable).

        Raises UserError when programs cannot run here without root (see `refusal`).
        """
        problem = self.refusal()
        if problem is not None:
            raise UserError(problem)
        argv = [sys.executable, "-I", str(WORKER_SCRIPT)]
        owner: int | None = None
        exclusive = False
        if self.as_root:
            owner, exclusive = self.uids.acquire()
            argv = drop_to(self.setpriv or "setpriv", owner) + argv
            nproc = self.limits.processes
        else:
            nproc = user_process_count(os.getuid()) + self.limits.processes
        cgroup = self.cgroups.create(self.limits.memory_mb, self.limits.processes + 1)

        def on_exit() -> None:
            if owner is not None and exclusive:  # no PID namespace here: end what escaped the process group
                kill_user_processes(owner)
            if owner is not None:
                self.uids.release(owner)

        launch = Launch(cgroup.wrap(argv) if cgroup else argv, worker_environment(), nproc=nproc, owner=owner,
                        on_exit=on_exit, cgroup=cgroup)
        return WorkerProcess(launch, self.limits, seed)
