"""Running a whole Python file in a sandbox exactly as candidates run, and saying what ended it."""

from __future__ import annotations

import signal
import time
from dataclasses import asdict, dataclass
from typing import Any

from selftaught.sandbox._select import Sandbox
from selftaught.sandbox._worker_process import ChannelClosed

INTERRUPT_GRACE = 1.0
LIMIT_SIGNALS: dict[int, str] = {signal.SIGXCPU: "cpu", signal.SIGXFSZ: "file_size", signal.SIGKILL: "killed"}
# The status `selftaught sandbox run` exits with when a limit ended the program (documented in
# docs/sandbox.md): 124 as GNU timeout, 137/152/153 as a shell reports SIGKILL/SIGXCPU/SIGXFSZ.
LIMIT_EXIT_CODES: dict[str, int] = {
    "memory": 122,
    "processes": 123,
    "timeout": 124,
    "killed": 128 + signal.SIGKILL,
    "cpu": 128 + signal.SIGXCPU,
    "file_size": 128 + signal.SIGXFSZ,
}


@dataclass(frozen=True)
class FileRun:
    """What happened to a file run in the sandbox.

    Attributes:
      limit: which limit ended it, if one did: timeout, memory, cpu, file_size, processes, killed.
      output: what it printed (stdout and stderr together), capped.
    """

    exit_code: int | None
    signal: int | None
    limit: str | None
    output: str
    error: str
    duration: float
    sandbox: str

    def record(self) -> dict[str, Any]:
        return asdict(self)

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


def run_file(sandbox: Sandbox, source: str, *, name: str = "<file>", timeout: float = 10.0) -> FileRun:
    """Runs `source` as __main__ in a fresh worker of `sandbox`, for at most `timeout` seconds."""
    started = time.perf_counter()
    worker = sandbox.launch()
    exit_code: int | None = None
    sig: int | None = None
    limit: str | None = None
    error = ""
    timed_out = True  # until the program is known to have ended by itself
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
        output = worker.stderr_tail(sandbox.limits.output_kb * 1024)
        if timed_out:  # it was interrupted (or the run failed): its worker may be altered
            worker.kill()
        else:
            worker.retire()  # the exit status is known once the worker has ended
        status = worker.proc.returncode
    if exit_code is None and status is not None and limit is None:
        sig = -status if status < 0 else (status - 128 if status > 128 else None)
        exit_code = None if sig else status
        if sig:
            limit = LIMIT_SIGNALS.get(sig)
    return FileRun(exit_code, sig, limit, output, error[-2000:], time.perf_counter() - started, sandbox.name)
