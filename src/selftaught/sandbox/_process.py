"""Host side of a worker: launch in a new process group, talk over pipes with deadlines, kill the tree."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught.errors import WorkerError
from selftaught.sandbox._guest import _wire

GUEST_DIR = Path(__file__).resolve().parent / "_guest"
WORKER_SCRIPT = GUEST_DIR / "worker.py"
MAX_LINE = 64 * 1024 * 1024
STDERR_TAIL = 4000
# Variables passed through to workers: none are secrets; they keep numeric libraries correct.
PASSTHROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Limits:
    """Resource limits applied inside every worker (a backstop; timeouts are enforced by the host).

    Attributes:
      memory_mb: address-space limit.
      file_size_mb: largest file the program may write.
      cpu_seconds: CPU-time limit of the whole worker.
      open_files: descriptor limit.
    """

    memory_mb: int = 4096
    file_size_mb: int = 64
    cpu_seconds: int = 3600
    open_files: int = 256


class ChannelTimeout(Exception):
    """No message arrived before the deadline."""


class ChannelClosed(Exception):
    """The worker closed its end (it exited or crashed)."""


def worker_environment(workdir: str) -> dict[str, str]:
    """The environment a worker starts with: rebuilt from nothing, no secrets of the orchestrator."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
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


class WorkerProcess:
    """One running worker: a child process in its own process group, and a message channel."""

    def __init__(self, limits: Limits, seed: int) -> None:
        self.workdir = tempfile.mkdtemp(prefix="selftaught-worker-")
        self._stderr = open(os.path.join(self.workdir, ".stderr"), "w+b")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(WORKER_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd=self.workdir,
                env=worker_environment(self.workdir),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            self._cleanup()
            raise WorkerError(f"could not start a worker process: {exc}") from exc
        self._buffer = b""
        self.closed = False
        self.send({"op": "setup", "limits": limits.__dict__, "seed": seed})

    def send(self, message: dict[str, Any]) -> None:
        """Sends one message; a dead worker shows up as ChannelClosed."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(_wire.encode(message))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ChannelClosed(str(exc)) from None

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next message, waiting at most `timeout` seconds."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise ChannelTimeout()
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise ChannelClosed("worker exited")
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE and b"\n" not in self._buffer:
                raise ChannelClosed("worker sent an oversized message")
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            return _wire.decode(line)
        except _wire.WireError as exc:
            raise ChannelClosed(f"worker broke the protocol: {exc}") from None

    def interrupt(self) -> None:
        """Asks the program to stop (raises inside it); it may refuse, so follow with kill()."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.proc.pid, signal.SIGUSR1)

    def stderr_tail(self) -> str:
        """The last few kilobytes the program printed."""
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - STDERR_TAIL))
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def kill(self) -> None:
        """Kills the worker and every process it started (its process group), and reaps it."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._cleanup()

    def _cleanup(self) -> None:
        with contextlib.suppress(OSError):
            self._stderr.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


class ProcessSandbox:
    """Runs each program in a separate worker process with a scrubbed environment and rlimits.

    The seam for stronger isolation: another sandbox only needs a `launch` that returns an
    object with WorkerProcess's methods; callers do not change.
    """

    name = "process"

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def launch(self, seed: int = 0) -> WorkerProcess:
        """Starts a fresh worker for one program."""
        return WorkerProcess(self.limits, seed)
