"""A runtime record of what a program tried (files, processes, network, ctypes, signals, rlimits), via audit hooks.

Installed by the worker before any untrusted code runs. It is telemetry, not a barrier: the
sandbox refuses what must be refused; this says what was attempted. A program running in the
same process could tamper with the record, which is why the static scan exists too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

MAX_SAMPLES = 5
_EVENTS = {
    "subprocess.Popen": "process",
    "os.system": "process",
    "os.exec": "process",
    "os.posix_spawn": "process",
    "os.spawn": "process",
    "os.fork": "process",
    "os.forkpty": "process",
    "socket.connect": "network",
    "socket.bind": "network",
    "socket.sendto": "network",
    "socket.getaddrinfo": "network",
    "ctypes.dlopen": "ctypes",
    "ctypes.dlsym": "ctypes",
    "ctypes.call_function": "ctypes",
    "os.kill": "signal",
    "os.killpg": "signal",
    "signal.pthread_kill": "signal",
    "os.remove": "file_write",
    "os.rename": "file_write",
    "os.rmdir": "file_write",
    "os.mkdir": "file_write",
    "os.symlink": "file_write",
    "os.link": "file_write",
    "os.chmod": "file_write",
    "os.chown": "file_write",
    "os.truncate": "file_write",
    "shutil.rmtree": "file_write",
    "resource.setrlimit": "rlimit",
    "resource.prlimit": "rlimit",
    "sys.addaudithook": "audit_tamper",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_quiet = [False]  # while the worker itself works, before any of the program's code has run (see `worker_only`)


@contextlib.contextmanager
def worker_only() -> Iterator[None]:
    """What happens inside is the worker's own doing, not the program's: not recorded. For compiling the
    program (no code of it runs then): CPython opens the source's pseudo file name (`<candidate>`) to show the
    line of a SyntaxError, which was recorded as a `file_read` of a program that never ran."""
    _quiet[0] = True
    try:
        yield
    finally:
        _quiet[0] = False


def install(trusted_roots: list[str]) -> dict[str, Any]:
    """Starts recording; returns the live record ({"counts": {...}, "samples": {...}})."""
    record: dict[str, Any] = {"counts": {}, "samples": {}}
    roots = tuple(os.path.realpath(r) + os.sep for r in trusted_roots if r)

    def note(kind: str, detail: str) -> None:
        counts = record["counts"]
        counts[kind] = counts.get(kind, 0) + 1
        samples = record["samples"].setdefault(kind, [])
        if len(samples) < MAX_SAMPLES:
            samples.append(detail[:200].encode("utf-8", "replace").decode("utf-8"))  # no lone surrogates

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if _quiet[0]:
            return
        if event == "open":
            path, mode, flags = [*list(args), None, None, None][:3]
            if not isinstance(path, str) or path.startswith(roots):
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            note("file_write" if writing else "file_read", path)
            return
        kind = _EVENTS.get(event)
        if kind is None and event.startswith("os.exec"):
            kind = "process"
        if kind is not None:
            note(kind, f"{event} {args!r}")

    sys.addaudithook(hook)
    return record


def refused(record: dict[str, Any], exc: BaseException) -> None:
    """Notes an attempt the sandbox refused (the program saw a permission or resource error)."""
    if isinstance(exc, (PermissionError, BlockingIOError)) or (
        isinstance(exc, OSError) and exc.errno in (1, 13, 30, 101, 111)
    ):
        counts = record["counts"]
        counts["refused"] = counts.get("refused", 0) + 1
        samples = record["samples"].setdefault("refused", [])
        if len(samples) < MAX_SAMPLES:  # as every kind's: one per failing call would grow the record without bound
            samples.append(f"{type(exc).__name__}: {exc}"[:200].encode("utf-8", "replace").decode("utf-8"))
