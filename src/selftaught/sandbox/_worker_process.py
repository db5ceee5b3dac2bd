"""Host side of a worker: start it from a launch plan, talk over pipes with deadlines, kill its tree."""

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from selftaught.errors import WorkerError
from selftaught.sandbox._cgroup import WorkerCgroup
from selftaught.sandbox._channel import (
    INTERRUPT_GRACE,
    STDERR_TAIL,
    ChannelClosed,
    ChannelTimeout,
    LineReader,
    SendTimedOut,
    stop,
)
from selftaught.sandbox._cputime import HAS_PROC, children, process_tree_cpu, wall_clock
from selftaught.sandbox._guest import _state, _wire


@dataclass(frozen=True)
class Limits:
    """Resource limits applied inside every worker (a backstop; timeouts are enforced by the host).

    Attributes:
      memory_mb: address-space limit.
      file_size_mb: largest file the program may write.
      cpu_seconds: CPU-time limit of the whole worker.
      open_files: descriptor limit.
      processes: processes the program may run at once (RLIMIT_NPROC where it binds).
      tmp_mb: size of the private writable /tmp (isolating sandboxes only).
      output_kb: how much of the program's stderr the orchestrator keeps.
    """

    memory_mb: int = 4096
    file_size_mb: int = 64
    cpu_seconds: int = 3600
    open_files: int = 256
    processes: int = 64
    tmp_mb: int = 64
    output_kb: int = 64


@dataclass(frozen=True)
class Launch:
    """How to start one worker: the command, its environment, and descriptors to pass.

    Attributes:
      nproc: the RLIMIT_NPROC the worker sets on itself (None: do not set it).
      owner: the uid the worker runs as, when it is not this process's: its home directory (HOME,
        TMPDIR and working directory, for a worker without `cwd`) is made that uid's.
      on_exit: called once the worker is gone (to return a sandbox uid to its pool).
      kill_children_first: the launched process is a sandbox monitor (bubblewrap) whose child is
        the sandbox's pid 1: kill that child first, so the monitor reaps it and exits by itself.
      cgroup: the worker's cgroups (already joined by `argv`): removed once it is gone, after
        `on_exit`; their CPU accounting, where there is one, is what the worker is charged with,
        else the launched process's tree, read from /proc (see `selftaught.sandbox._cputime`).
    """

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    pass_fds: tuple[int, ...] = ()
    nproc: int | None = None
    owner: int | None = None
    on_exit: Callable[[], None] | None = None
    kill_children_first: bool = False
    cgroup: WorkerCgroup | None = None


def host_rlimits() -> dict[str, tuple[int, int]]:
    """This process's resource limits, by name: what a fresh worker inherits (bubblewrap and setpriv keep them).

    Sent in every worker's `setup`: the worker sets each of them explicitly (then its `Limits` on top), so a
    worker forked by a zygote starts from a fresh worker's limits, whatever its zygote's are.
    """
    return _state.rlimits()


def private_file() -> IO[bytes]:
    """A read-write host file without a name, for a worker's stderr: O_TMPFILE where the temporary directory's
    filesystem has it, else a file unlinked at once (`tempfile.TemporaryFile`). No path reaches it, and
    nothing is left to remove (making and removing a directory costs milliseconds on some filesystems)."""
    return tempfile.TemporaryFile()


WORKER_MARK = b"guest/worker.py"


def _find_descendant(pid: int, mark: bytes, depth: int = 5) -> int | None:
    """The shallowest process under (or at) `pid` that is the interpreter running `mark`.

    (bubblewrap's own command line names the worker script too, so the program name must be
    the interpreter.)
    """
    interpreter = sys.executable.encode()
    level = [pid]
    for _ in range(depth + 1):
        for p in level:
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0] == interpreter and any(mark in a for a in argv[1:3]):
                return p
        level = [c for p in level for c in children(p)]
    return None


class MessageChannel:
    """What every kind of worker shares: messages out on `_writer`, in from `_reader`, the program's prints in
    `_stderr` (a host file, out of the program's reach)."""

    _writer: IO[bytes]
    _reader: LineReader
    _stderr: IO[bytes]

    def send(self, message: dict[str, Any], attachment: bytes = b"", timeout: float | None = None) -> None:
        """Sends one message (and its attachment: see `_wire.encode`); a dead worker shows up as ChannelClosed.

        `timeout`: the most seconds the worker may take to read it (SendTimedOut after that): a message larger than
        the pipe's buffer waits on the worker, and a program may stop its worker reading. Written in pieces of at
        most PIPE_BUF bytes, each once the pipe has room, so no write blocks."""
        data = _wire.encode(message, attachment)
        try:
            if timeout is None:
                self._writer.write(data)
                self._writer.flush()
                return
            self._writer.flush()
            fd = self._writer.fileno()
            deadline = time.monotonic() + timeout
            sent = 0
            while sent < len(data):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SendTimedOut(f"the worker took {timeout:.3g}s without reading its input "
                                       f"({sent} of {len(data)} bytes read)")
                if select.select([], [fd], [], left)[1]:
                    sent += os.write(fd, data[sent:sent + select.PIPE_BUF])
        except (OSError, ValueError) as exc:  # a broken pipe, or a channel already closed here
            raise ChannelClosed(str(exc)) from None

    def receive(self, timeout: float, limit: int | None = None) -> dict[str, Any]:
        """The next message, waiting at most `timeout` seconds (see LineReader for what it raises, and `limit`)."""
        return self._reader.receive(timeout, limit)

    def pending(self) -> bool:
        """Whether a message (or the channel's end) is there to be read without waiting."""
        return self._reader.pending()

    def interrupt(self) -> None:
        """Asks the program to stop (raises inside it); it may refuse, so follow with kill()."""
        raise NotImplementedError

    def receive_or_stop(self, timeout: float, grace: float = INTERRUPT_GRACE) -> tuple[dict[str, Any] | None, bool]:
        """The next message within `timeout`; past it, the program is stopped (`stop`). Returns
        (message, timed out); a None message means the program did not stop: the caller kills the
        worker (after reading its output, if it wants it)."""
        try:
            return self.receive(timeout), False
        except ChannelTimeout:
            return stop(self, grace), True

    def stderr_tail(self, limit: int = STDERR_TAIL) -> str:
        """The last `limit` bytes the program printed."""
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def stderr_size(self) -> int:
        """How many bytes the program printed in all (`stderr_tail` keeps the last of them)."""
        try:
            self._stderr.flush()
            return self._stderr.seek(0, os.SEEK_END)
        except (OSError, ValueError):
            return 0


class WorkerProcess(MessageChannel):
    """One running worker: a child process in its own process group, and a message channel."""

    def __init__(self, launch: Launch, limits: Limits, seed: int) -> None:
        self._on_exit = launch.on_exit
        self._cgroup = launch.cgroup
        self._kill_children_first = launch.kill_children_first
        env = dict(launch.env)
        # A worker without a working directory of its own lives in a host directory made for it (0700, or 0711
        # when another uid must pass through to its home, which is the program's own).
        self.workdir: str | None = None
        self.home = "/"
        try:
            # the program's stderr: a host file without a name (no path reaches it, nothing is left to remove)
            self._stderr = private_file()
            if launch.cwd is None:
                self.workdir = tempfile.mkdtemp(prefix="selftaught-worker-")
                self.home = os.path.join(self.workdir, "home")
                os.mkdir(self.home, 0o700)
                if launch.owner is not None:
                    os.chown(self.home, launch.owner, launch.owner)
                    os.chmod(self.workdir, 0o711)
                env.setdefault("HOME", self.home)
                env.setdefault("TMPDIR", self.home)
        except OSError as exc:
            self._cleanup_files()
            for passed in launch.pass_fds:
                with contextlib.suppress(OSError):
                    os.close(passed)
            self._release()
            raise WorkerError(f"could not prepare a worker's directory: {exc}") from exc
        try:
            self.proc = subprocess.Popen(
                launch.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd=launch.cwd or self.home,
                env=env,
                start_new_session=True,
                close_fds=True,
                pass_fds=launch.pass_fds,
            )
        except OSError as exc:
            self._cleanup()
            raise WorkerError(f"could not start a worker process: {exc}") from exc
        finally:
            for fd in launch.pass_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if launch.cgroup is not None and launch.cgroup.cpu is not None:
            self._cpu, self.cpu_source = launch.cgroup.cpu, launch.cgroup.cpu_source or "cgroup"
        elif HAS_PROC:
            self._cpu, self.cpu_source = process_tree_cpu(self.proc.pid), "/proc process tree"
        else:
            self._cpu, self.cpu_source = wall_clock, "wall clock"
        assert self.proc.stdout is not None
        assert self.proc.stdin is not None
        self._writer = self.proc.stdin
        self._reader = LineReader(self.proc.stdout.fileno())
        self._worker_pid: int | None = None
        self.closed = False
        budget = dict(limits.__dict__)
        budget["processes"] = launch.nproc
        try:
            self.send({"op": "setup", "limits": budget, "seed": seed, "rlimits": host_rlimits()})
        except ChannelClosed:
            self.kill()  # it died at once: reap it, remove its directory, return its uid
            raise

    def cpu_time(self) -> float:
        """Seconds of CPU the worker's processes have used so far, read by the host (see `cpu_source`).

        Only differences between two readings mean anything. Raises ChannelClosed when it cannot
        be read (the worker is gone).
        """
        if self.closed:
            raise ChannelClosed("the worker was killed")
        used = self._cpu()
        if used is None:
            raise ChannelClosed("the worker's CPU time cannot be read: it is gone")
        return used

    def oom_kills(self) -> int | None:
        """How many of the worker's processes its memory cgroup's out-of-memory killer has killed (None: it has no
        such cgroup, or it is gone)."""
        return None if self._cgroup is None else self._cgroup.oom_kills()

    def worker_pid(self) -> int:
        """The host pid of the worker interpreter itself (inside a sandbox it is a descendant)."""
        if self._worker_pid is None:
            self._worker_pid = _find_descendant(self.proc.pid, WORKER_MARK) or self.proc.pid
        return self._worker_pid

    def interrupt(self) -> None:
        """Asks the program to stop (raises inside it); it may refuse, so follow with kill()."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.worker_pid(), signal.SIGUSR1)

    def kill(self) -> None:
        """Kills the worker and every process it started (its process group), and reaps it."""
        if self.closed:
            return
        self.closed = True
        if self._kill_children_first:
            # The sandbox's pid 1 first: its namespace dies with it, bubblewrap reaps it and exits.
            for child in children(self.proc.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(child, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._cleanup()

    def retire(self) -> None:
        """The protocol ended normally: ends the worker (a fresh sandbox serves one program only, so: `kill`)."""
        self.kill()

    def _cleanup(self) -> None:
        self._cleanup_files()
        self._release()

    def _cleanup_files(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self._stderr.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _release(self) -> None:
        """Once the worker is gone: its sandbox's `on_exit` (a uid back to its pool...), then its cgroups."""
        if self._on_exit is not None:
            self._on_exit()
            self._on_exit = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
