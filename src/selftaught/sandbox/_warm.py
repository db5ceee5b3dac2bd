"""Warm workers: a pool of zygotes (each in a bubblewrap sandbox of its own) that fork one fresh worker per program.

A zygote (`_guest/zygote.py`) is started exactly like a worker, with the interpreter, numpy and the
worker's modules loaded, and runs no program itself. For each program it forks a child that becomes an
ordinary worker (the same `setup`, `load`/`improve`/`run` protocol, over pipes of its own to the host),
and acknowledges its setup before `launch` hands it out: a child that fails there costs its zygote, and
the launch tries a fresh one (see `_zygote` for the host side of one zygote).
When the program ends normally, `retire()` has the zygote end the child and sweep its sandbox; a clean
sweep returns the zygote to the pool (its answer is read before it serves again: see `_pool`). Anything
else (`kill()`: a timeout, a crash, a protocol break; a sweep that is not clean; a zygote that
misbehaves) destroys the zygote's whole sandbox. See docs/sandbox.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import weakref
from typing import TYPE_CHECKING

from selftaught.errors import UserError, WorkerError
from selftaught.sandbox._bwrap import BwrapSandbox
from selftaught.sandbox._channel import ChannelClosed, ChannelTimeout, LineReader
from selftaught.sandbox._guest import _wire
from selftaught.sandbox._pool import ChildExit, ZygotePool
from selftaught.sandbox._process import user_process_count
from selftaught.sandbox._worker_process import Limits, MessageChannel, host_rlimits, private_file
from selftaught.sandbox._zygote import Zygote

if TYPE_CHECKING:
    from selftaught.sandbox._select import Sandbox

SETUP_TIMEOUT = 10.0  # seconds for a forked child to set its limits, seed and audit hook (about a millisecond)
SETUP_BYTES = 16384  # a setup message is about 1 KB; written before the child can read it, it must fit a pipe


class SetupFailed(WorkerError):
    """A forked worker failed before any program ran in it (its zygote is suspect, not the machine)."""


class ForkedWorker(MessageChannel):
    """A worker forked by a zygote: the interface of `WorkerProcess` (send, receive, cpu_time, interrupt, kill...),
    plus `retire()`, which returns a clean zygote to its pool."""

    def __init__(self, zygote: Zygote, pool: ZygotePool, limits: Limits, seed: int) -> None:
        self.zygote = zygote
        self._pool = pool
        self.cpu_source = zygote.process.cpu_source
        self.proc = ChildExit()
        self.closed = True  # until the child exists
        self._stderr = private_file()  # the child's stderr: no path reaches it
        fd = self._stderr.fileno()
        budget = dict(limits.__dict__)
        # RLIMIT_NPROC counts the zygote too (same uid): one more, so the program may start as many as in a worker
        budget["processes"] = (limits.processes if self.zygote.as_root else user_process_count(os.getuid())
                               + limits.processes) + 1
        # The child acknowledges its setup (limits, seed, audit hook) before it is handed out: one that fails there
        # has not run any program yet, and its zygote is at fault, not the machine (`launch` tries another). The
        # setup waits in its stdin (far less than a pipe holds), so the child finds it as soon as it has the pipe.
        setup = _wire.encode({"op": "setup", "limits": budget, "seed": seed, "rlimits": host_rlimits(), "ack": True})
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        try:
            if len(setup) > SETUP_BYTES:
                raise WorkerError(f"a setup message of {len(setup)} bytes")
            os.write(in_write, setup)
            self.pid = zygote.fork((in_read, out_write, fd))
        except BaseException:
            for end in (in_write, out_read):
                os.close(end)
            self._cleanup()
            raise
        finally:
            os.close(in_read)
            os.close(out_write)
        self.closed = False
        self._writer = os.fdopen(in_write, "wb")
        self._stdout = out_read
        self._reader = LineReader(out_read)
        try:
            self._pidfd: int | None = os.pidfd_open(self.pid)
        except OSError:
            self._pidfd = None
        events = zygote.process.oom_kills()
        self._oom_base = events or 0  # the zygote's sandbox counts its children's out-of-memory kills all together
        try:
            reply = self.receive(SETUP_TIMEOUT)
        except (ChannelClosed, ChannelTimeout) as exc:
            reply = {"error": f"{type(exc).__name__} {exc}".strip()}
        if reply.get("op") != "set_up":
            tail = self.stderr_tail(300).strip()
            self._abandon()
            raise SetupFailed(f"its worker failed to set up: {str(reply.get('error', reply))[:300]}"
                              + (f" ({tail[-200:]})" if tail else ""))

    @property
    def zygote_pid(self) -> int:
        """The host pid of the zygote that forked this worker."""
        return self.zygote.pid

    def cpu_time(self) -> float:
        """Seconds of CPU the zygote's sandbox has used (its cgroup or process tree, read by the host); the
        zygote is idle while its child runs, so differences are the child's (see `WorkerProcess.cpu_time`)."""
        if self.closed:
            raise ChannelClosed("the worker was killed")
        return self.zygote.process.cpu_time()

    def worker_pid(self) -> int:
        """The host pid of the forked worker."""
        return self.pid

    def interrupt(self) -> None:
        """Asks the program to stop (SIGUSR1 to the child, through a pidfd: never another process)."""
        self._signal(signal.SIGUSR1)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)
            else:
                os.kill(self.pid, signum)

    def oom_kills(self) -> int | None:
        """How many of this worker's processes its sandbox's memory cgroup killed for want of memory (None:
        unknown), counted from its fork."""
        events = None if self.closed else self.zygote.process.oom_kills()
        return None if events is None else events - self._oom_base

    def kill(self) -> None:
        """The worker may have been altered (a timeout, a crash, a protocol break): kills it and destroys its
        zygote's whole sandbox (a replacement starts in the background)."""
        if self.closed:
            return
        self._abandon()
        self._pool.returned()
        self._pool.discard(self.zygote, "its worker was killed")

    def _abandon(self) -> None:
        """Kills the child and lets go of it; its zygote is the caller's to discard."""
        self.closed = True
        self._signal(signal.SIGKILL)
        self._close_channel()
        self._cleanup()

    def retire(self) -> None:
        """The protocol ended normally: the zygote ends the child and sweeps; a clean zygote goes back to the pool,
        any other is destroyed. Its answer is read before it serves again, not here; `proc.returncode` (the
        child's exit status) waits for it."""
        if self.closed:
            return
        self.closed = True
        self._close_channel()
        self._pool.returned()
        try:
            self.zygote.start_retire()
        except WorkerError as exc:
            self._pool.discard(self.zygote, str(exc))
        else:
            self._pool.retiring(self.zygote, self.proc)
        self._cleanup()

    def _close_channel(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._writer.close()
        with contextlib.suppress(OSError):
            os.close(self._stdout)
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def _cleanup(self) -> None:
        with contextlib.suppress(OSError):
            self._stderr.close()

    def __enter__(self) -> ForkedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


class WarmPool:
    """A drop-in sandbox (`launch(seed)`) whose workers are forked from warm zygotes of a `BwrapSandbox`.

    Up to `size` idle zygotes are kept; a spare starts in the background whenever none is idle. Thread-safe.
    `close()` (also run when the pool is collected, or at exit) destroys the idle ones; busy ones are destroyed
    when their worker ends.
    """

    name = "bwrap-warm"
    isolated = True
    ATTEMPTS = 3  # zygotes tried per launch before giving up

    def __init__(self, sandbox: BwrapSandbox, size: int = 2) -> None:
        if not isinstance(sandbox, BwrapSandbox):
            raise UserError(f"warm workers need the bubblewrap sandbox (each zygote kills every process of its own "
                            f"PID namespace between programs); the {getattr(sandbox, 'name', sandbox)!r} sandbox "
                            "has none")
        if size < 1:
            raise UserError(f"a warm pool needs a size of at least 1, not {size}")
        self.sandbox = sandbox
        self.limits = sandbox.limits
        self._pool = ZygotePool(sandbox, size)
        self._finalizer = weakref.finalize(self, _close_later, self._pool)

    @property
    def started(self) -> int:
        """Zygotes started so far."""
        return self._pool.started

    @property
    def discarded(self) -> list[str]:
        """Why the latest zygotes were destroyed (once every sweep under way has answered)."""
        self._pool.collect(wait=True)
        return list(self._pool.discarded)

    def idle(self) -> list[int]:
        """The host pids of the idle zygotes, most recently used last (once every sweep under way has answered)."""
        self._pool.collect(wait=True)
        with self._pool.lock:
            return [z.pid for z in self._pool.idle]

    def warm(self, count: int | None = None) -> None:
        """Starts zygotes now until `count` (default: the pool's size) are idle."""
        target = self._pool.size if count is None else count
        while len(self.idle()) < target:
            self._pool.give_back(self._pool.start())

    def launch(self, seed: int = 0) -> ForkedWorker:
        """A fresh worker forked from an idle zygote (a new zygote when none is idle). WorkerError when no zygote
        can start or fork."""
        if self._pool.closed:
            raise WorkerError("the warm pool is closed")
        failures: list[str] = []
        for _ in range(self.ATTEMPTS):
            # An idle zygote first; after a failure, fresh ones only: whether a fresh zygote works is what decides
            # between a zygote at fault (discarded, and the launch succeeds) and a machine fault (WorkerError).
            zygote = (None if failures else self._pool.take()) or self._pool.start()  # a start that fails raises
            self._pool.lent()
            self._pool.replenish()
            try:
                return ForkedWorker(zygote, self._pool, self.limits, seed)
            except WorkerError as exc:
                failures.append(str(exc))
                self._pool.returned()
                self._pool.discard(zygote, str(exc))
            except BaseException:  # interrupted while forking: the zygote's state is unknown
                self._pool.returned()
                self._pool.discard(zygote, "a launch was interrupted")
                raise
        raise WorkerError(f"no zygote could fork a worker: {'; '.join(failures)[-600:]}")

    def close(self) -> None:
        """Destroys the idle zygotes; later launches fail."""
        if self._finalizer.detach() is not None:
            self._pool.close()

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def warmed(sandbox: Sandbox, size: int) -> Sandbox:
    """`sandbox` with warm workers (a WarmPool of `size` zygotes) where it can have them (bubblewrap), else itself."""
    return WarmPool(sandbox, size=size) if isinstance(sandbox, BwrapSandbox) else sandbox


def _close_later(pool: ZygotePool) -> None:
    """A pool collected without `close()`: its zygotes are destroyed on a thread of their own. The collector may
    run this at any point of any thread, holding whatever locks that thread holds (the sandbox's uid pool's,
    for one), so destroying them here could deadlock."""
    threading.Thread(target=pool.close, name="selftaught-zygote-close", daemon=True).start()
