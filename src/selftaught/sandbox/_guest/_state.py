"""What a process hands to the children it forks that another process of its uid could change from outside.

Its resource limits (all of them), its scheduling (policy, priority, nice value and the rest of its
scheduling attributes), CPU affinity, I/O priority, autogroup, OOM score adjustment and timer slack.
The zygote snapshots this when it starts and compares it after every child (`changes`): a child that
had changed any of it (the seccomp filter refuses the calls that would) would hand the change to every
later child, so a zygote whose snapshot differs is destroyed.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
from typing import Any

# Calls Python's os module lacks, by machine.
_NUMBERS = {
    "x86_64": {"sched_getattr": 315, "ioprio_get": 252},
    "aarch64": {"sched_getattr": 275, "ioprio_get": 31},
}
SCHED_ATTR_SIZE = 56  # struct sched_attr up to its utilization clamps (SCHED_ATTR_SIZE_VER1)
IOPRIO_WHO_PROCESS = 1
PR_GET_TIMERSLACK = 30

_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def rlimits() -> dict[str, tuple[int, int]]:
    """Every resource limit of this process by name (an alias, such as RLIMIT_OFILE, once)."""
    found: dict[str, tuple[int, int]] = {}
    seen: set[int] = set()
    for name in sorted(dir(resource)):
        number = getattr(resource, name)
        if name.startswith("RLIMIT_") and isinstance(number, int) and number not in seen:
            seen.add(number)
            found[name] = resource.getrlimit(number)
    return found


def _syscall(name: str, *args: Any) -> int | str:
    number = _NUMBERS.get(platform.machine().lower(), {}).get(name)
    if number is None:
        return "unknown on this machine"
    ctypes.set_errno(0)
    value = int(_c().syscall(ctypes.c_long(number), *args))
    return value if value >= 0 else f"failed: errno {ctypes.get_errno()}"


def _sched_attr() -> str:
    """The raw scheduling attributes (policy, flags, nice, priority, deadline parameters, utilization clamps)."""
    buffer = ctypes.create_string_buffer(SCHED_ATTR_SIZE)
    result = _syscall("sched_getattr", ctypes.c_long(0), buffer, ctypes.c_uint(SCHED_ATTR_SIZE), ctypes.c_uint(0))
    return buffer.raw.hex() if result == 0 else str(result)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


def _attempt(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except OSError as exc:
        return f"failed: {exc.strerror}"


def snapshot() -> dict[str, Any]:
    """This process's state as its children inherit it, by name (a value that cannot be read is a string)."""
    state: dict[str, Any] = {f"limit {name}": value for name, value in rlimits().items()}
    state["nice value"] = _attempt(os.getpriority, os.PRIO_PROCESS, 0)
    state["scheduling policy"] = _attempt(os.sched_getscheduler, 0)
    state["scheduling priority"] = _attempt(lambda: os.sched_getparam(0).sched_priority)
    state["scheduling attributes"] = _sched_attr()
    state["CPU affinity"] = _attempt(lambda: sorted(os.sched_getaffinity(0)))
    state["I/O priority"] = _syscall("ioprio_get", ctypes.c_long(IOPRIO_WHO_PROCESS), ctypes.c_long(0))
    state["timer slack"] = int(_c().prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0))
    state["autogroup"] = _read("/proc/self/autogroup")
    state["OOM score adjustment"] = _read("/proc/self/oom_score_adj")
    return state


def changes(fresh: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two snapshots, by name (in the order of the first)."""
    names = [*fresh, *(name for name in now if name not in fresh)]
    return [name for name in names if fresh.get(name) != now.get(name)]
