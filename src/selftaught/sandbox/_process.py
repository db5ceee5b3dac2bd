"""The reduced-isolation sandbox: a separate process with rlimits and a scrubbed environment only."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from selftaught.sandbox._cgroup import Cgroups
from selftaught.sandbox._worker_process import Launch, Limits, WorkerProcess

GUEST_DIR = Path(__file__).resolve().parent / "_guest"
WORKER_SCRIPT = GUEST_DIR / "worker.py"
# Variables passed through to workers: none are secrets; they keep numeric libraries correct.
PASSTHROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TZ")


def worker_environment() -> dict[str, str]:
    """The environment a worker starts with: rebuilt from nothing, no secrets of the orchestrator.

    HOME and TMPDIR are added where the worker's private directory is known.
    """
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
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


class ProcessSandbox:
    """Runs each program in a separate process: own process group, scrubbed environment, rlimits.

    Reduced isolation: the program shares the host's filesystem view, network and user, so it is
    a fallback, announced as such (see `selftaught.sandbox.select_sandbox`).
    """

    name = "process"
    isolated = False

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.cgroups = Cgroups()

    def launch(self, seed: int = 0) -> WorkerProcess:
        """Starts a fresh worker for one program (in its own cgroups where they are writable)."""
        uid = os.getuid()
        nproc = None if uid == 0 else user_process_count(uid) + self.limits.processes
        argv = [sys.executable, "-I", str(WORKER_SCRIPT)]
        cgroup = self.cgroups.create(self.limits.memory_mb, self.limits.processes + 1)
        launch = Launch(cgroup.wrap(argv) if cgroup else argv, worker_environment(), nproc=nproc,
                        on_exit=cgroup.remove if cgroup else None)
        return WorkerProcess(launch, self.limits, seed)
