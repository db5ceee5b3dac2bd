"""The host side of one zygote (`_guest/zygote.py`): start it in a bubblewrap sandbox of its own, have it fork a
child with the child's descriptors, have it end the child and sweep, destroy its sandbox. See `_warm` for the pool."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from typing import Any

from selftaught.errors import WorkerError
from selftaught.sandbox._bwrap import BwrapSandbox
from selftaught.sandbox._channel import ChannelClosed, ChannelTimeout
from selftaught.sandbox._cputime import children
from selftaught.sandbox._worker_process import WorkerProcess, _find_descendant

ZYGOTE_MARK = b"guest/zygote.py"
# A POSIX message-queue filesystem of the sandbox's IPC namespace, so the sweep can see (and empty) the
# queues a child left: without it they would outlive the child unseen. Workers do not need it.
ZYGOTE_MOUNTS = ("--mqueue", "/dev/mqueue")
START_TIMEOUT = 30.0  # seconds for a zygote to start and preload
FORK_TIMEOUT = 5.0  # seconds for a zygote to fork a child
SWEEP_TIMEOUT = 5.0  # seconds for a zygote to end its child and sweep (its own wait for the processes is 2 s)
STEP = 0.05  # seconds between looks at a zygote that has not answered yet
_numbers = itertools.count(1)


def _stopped(pid: int) -> bool:
    """Whether `pid` is stopped (SIGSTOP from a child) or gone: either way it will not answer."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"T", b"t", b"Z", b"X")


def _ns_pid(pid: int) -> int | None:
    """The pid of host process `pid` in its own (innermost) PID namespace."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None


class Zygote:
    """One zygote's sandbox, seen from the host: start it, have it fork a child, retire the child, destroy it."""

    def __init__(self, sandbox: BwrapSandbox) -> None:
        self.number = next(_numbers)  # which zygote this is, in this process (for reports and tests)
        self.as_root = sandbox.as_root
        self.limits = sandbox.limits
        host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = guest_end.detach()  # the launcher passes it into the sandbox, then closes it here
        try:
            launch = sandbox.plan("zygote.py", (str(fd),), (fd,), ZYGOTE_MOUNTS, extra_processes=1)
        except BaseException:
            os.close(fd)
            host_end.close()
            raise
        self.socket = host_end
        try:
            self.process = WorkerProcess(launch, sandbox.limits, 0)
        except ChannelClosed as exc:
            host_end.close()
            raise WorkerError(f"a zygote died at once: {exc}") from None
        except BaseException:
            host_end.close()
            raise
        try:
            reply = self.process.receive(START_TIMEOUT)
            if reply.get("op") != "ready":
                raise WorkerError(f"a zygote did not start: {str(reply.get('error', reply))[:300]}")
        except (ChannelClosed, ChannelTimeout) as exc:
            tail = self.process.stderr_tail()[-300:]
            self.destroy()
            raise WorkerError(f"a zygote failed to start ({type(exc).__name__}): {tail}") from None
        except WorkerError:
            self.destroy()
            raise
        found = _find_descendant(self.process.proc.pid, ZYGOTE_MARK)
        if found is None:
            self.destroy()
            raise WorkerError("a zygote started, but its process cannot be found")
        self.pid = found  # its host pid

    @property
    def alive(self) -> bool:
        return not self.process.closed and not _stopped(self.pid)

    def _answer(self, timeout: float) -> dict[str, Any]:
        """The zygote's next message; WorkerError when it does not come (the zygote died, stopped, or is slow)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.process.receive(STEP)
            except ChannelTimeout:
                if _stopped(self.pid) or time.monotonic() > deadline:
                    raise WorkerError(f"zygote {self.number} stopped answering") from None
            except ChannelClosed as exc:
                raise WorkerError(f"zygote {self.number} is gone: {exc}") from None

    def fork(self, fds: tuple[int, int, int]) -> int:
        """Has the zygote fork a child with `fds` as its stdin, stdout and stderr; returns the child's host pid."""
        try:
            self.process.send({"op": "fork"})
            socket.send_fds(self.socket, [b"F"], list(fds))
        except (ChannelClosed, OSError) as exc:
            raise WorkerError(f"zygote {self.number} cannot be reached: {exc}") from None
        reply = self._answer(FORK_TIMEOUT)
        inner = reply.get("pid")
        if reply.get("op") != "forked" or not isinstance(inner, int) or isinstance(inner, bool):
            raise WorkerError(f"zygote {self.number} did not fork: {str(reply)[:200]}")
        for child in children(self.pid):
            if _ns_pid(child) == inner:
                return child
        raise WorkerError(f"zygote {self.number} forked pid {inner}, which is not its child")

    def start_retire(self) -> None:
        """Has the zygote end its child and sweep (its answer: `finish_retire`)."""
        try:
            self.process.send({"op": "retire"})
        except ChannelClosed as exc:
            raise WorkerError(f"zygote {self.number} cannot be reached: {exc}") from None

    def answered(self) -> bool:
        """Whether the zygote has said something (or ended) that `finish_retire` would read without waiting."""
        return self.process.closed or self.process.pending()

    def finish_retire(self) -> tuple[int | None, bool, str]:
        """The sweep's answer: (the child's exit status as a Popen's returncode, clean, why)."""
        reply = self._answer(SWEEP_TIMEOUT)
        status, clean = reply.get("status"), reply.get("clean")
        if reply.get("op") != "swept" or not isinstance(clean, bool):
            raise WorkerError(f"zygote {self.number} did not sweep: {str(reply)[:200]}")
        code = status if isinstance(status, int) and not isinstance(status, bool) else None
        return code, clean, str(reply.get("why", ""))[:1000]

    def destroy(self) -> None:
        """Kills the whole sandbox (the zygote, its child, everything in its PID namespace)."""
        self.process.kill()
        with contextlib.suppress(OSError):
            self.socket.close()
