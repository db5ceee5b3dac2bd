"""Running a whole Python file in a sandbox exactly as candidates run, and saying what ended it."""

from __future__ import annotations

import signal
import time
from dataclasses import asdict, dataclass
from typing import Any

from selftaught.sandbox._channel import ChannelClosed, Worker
from selftaught.sandbox._select import Sandbox

INTERRUPT_GRACE = 1.0
# A SIGKILL is RLIMIT_CPU's when the worker used this much CPU past the soft limit: the hard one is a second past
# it, and the kernel's count that it checks runs up to about 0.1 s ahead of the worker's cgroup's (measured).
HARD_CPU_MARGIN = 0.5
# Signals only a limit sends (the kernel, at RLIMIT_CPU's soft limit and RLIMIT_FSIZE). A SIGKILL is a limit's only
# when the sandbox is known to have sent it: its memory cgroup's out-of-memory killer, or RLIMIT_CPU's hard limit.
LIMIT_SIGNALS: dict[int, str] = {signal.SIGXCPU: "cpu", signal.SIGXFSZ: "file_size"}
# The status `selftaught sandbox run` exits with when a limit ended the program (documented in
# docs/sandbox.md): 124 as GNU timeout, 152/153 as a shell reports SIGXCPU/SIGXFSZ.
LIMIT_EXIT_CODES: dict[str, int] = {
    "memory": 122,
    "processes": 123,
    "timeout": 124,
    "cpu": 128 + signal.SIGXCPU,
    "file_size": 128 + signal.SIGXFSZ,
}


@dataclass(frozen=True)
class FileRun:
    """What happened to a file run in the sandbox.

    Attributes:
      limit: which limit of the sandbox ended it, if one did: timeout, memory, cpu, file_size, processes.
      signal: the signal that ended it, if one did (whoever sent it).
      output: what it printed (stdout and stderr together): the last `Limits.output_kb` KiB of it.
      output_cut: how many bytes of the output, at its start, are not in `output`.
    """

    exit_code: int | None
    signal: int | None
    limit: str | None
    output: str
    error: str
    duration: float
    sandbox: str
    output_cut: int = 0

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ending(self) -> str:
        """What ended it, in words."""
        if self.limit is not None:
            return f"ended by the {self.limit} limit"
        if self.signal is not None:
            name = _signal_name(self.signal)
            if self.signal == signal.SIGKILL:
                return (f"killed by {name}, which no limit of the sandbox sent (the program or one of its own "
                        "processes did, or something outside the sandbox)")
            return f"ended by {name}"
        return f"exit status {self.exit_code}"

    @property
    def status(self) -> int:
        """The run as one exit status: the limit's code (LIMIT_EXIT_CODES) when a limit ended it, else the
        program's own exit code (modulo 256, as a process's), else 128 + the signal that ended it."""
        if self.limit is not None:
            return LIMIT_EXIT_CODES[self.limit]
        if self.exit_code is not None:
            return self.exit_code % 256
        if self.signal is not None:
            return 128 + self.signal
        return 1


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} (signal {number})"
    except ValueError:
        return f"signal {number}"


def _cpu(worker: Worker) -> float | None:
    try:
        return worker.cpu_time()
    except ChannelClosed:
        return None


def run_file(sandbox: Sandbox, source: str, *, name: str = "<file>", timeout: float = 10.0) -> FileRun:
    """Runs `source` as __main__ in a fresh worker of `sandbox`, for at most `timeout` seconds."""
    started = time.perf_counter()
    worker = sandbox.launch()
    exit_code: int | None = None
    sig: int | None = None
    limit: str | None = None
    error = ""
    timed_out = True  # until the program is known to have ended by itself
    cpu_before = _cpu(worker)
    try:
        worker.send({"op": "run", "program": source, "name": name})
        message, timed_out = worker.receive_or_stop(timeout, INTERRUPT_GRACE)
        reply = message or {}
        if timed_out:
            limit = "timeout"
        exit_code = reply.get("exit_code") if isinstance(reply.get("exit_code"), int) else None
        if limit == "timeout":
            exit_code = None  # stopped, not exited
        error = str(reply.get("error", ""))
        if reply.get("kind") == "memory":
            limit = "memory"
        elif "BlockingIOError" in error and "Resource temporarily unavailable" in error:
            limit = "processes"
        elif "File too large" in error:
            limit = "file_size"
    except ChannelClosed:
        timed_out = False  # it died by itself: its exit status says how
    finally:
        kept = sandbox.limits.output_kb * 1024
        output, cut = worker.stderr_tail(kept), max(0, worker.stderr_size() - kept)
        oom_kills = worker.oom_kills()  # read before the worker's end removes its cgroup
        cpu_after = _cpu(worker)
        if timed_out:  # it was interrupted (or the run failed): its worker may be altered
            worker.kill()
        else:
            worker.retire()  # the exit status is known once the worker has ended
        status = worker.proc.returncode
    if exit_code is None and status is not None and limit is None:
        sig = -status if status < 0 else (status - 128 if status > 128 else None)
        exit_code = None if sig else status
        if sig == signal.SIGKILL and oom_kills:
            limit = "memory"
            error = (f"the sandbox's memory cgroup ({sandbox.limits.memory_mb} MB for all its processes) killed "
                     f"{oom_kills} of its processes for want of memory")
        elif sig == signal.SIGKILL and cpu_before is not None and cpu_after is not None \
                and cpu_after - cpu_before >= sandbox.limits.cpu_seconds + HARD_CPU_MARGIN:
            limit = "cpu"  # RLIMIT_CPU's hard limit, a second past the soft one (whose SIGXCPU it ignored)
        elif sig:
            limit = LIMIT_SIGNALS.get(sig)
    return FileRun(exit_code, sig, limit, output, error[-2000:], time.perf_counter() - started, sandbox.name, cut)
