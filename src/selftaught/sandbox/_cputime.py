"""The CPU time a worker's processes have used, read from the host, where the candidate cannot reach.

A candidate runs in the worker's own interpreter, so anything the worker measures about itself
(`time.process_time`, `getrusage`) it can patch or forge. The host reads the kernel's accounting instead:

- a per-worker cgroup, where one exists (as root): cgroup v1 `cpuacct.usage` (nanoseconds) or
  v2 `cpu.stat` `usage_usec` (microseconds). It counts every process of the worker, daemons that left
  its process group included (see `_cgroup`);
- otherwise the process tree under the launched process, from `/proc` (`process_tree_cpu`);
- otherwise (no `/proc`: macOS) the wall clock, as before CPU time was charged (`wall_clock`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

CpuReader = Callable[[], "float | None"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
CPUCLOCK_SCHED = 2  # the kernel's runtime clock of a whole thread group (MAKE_PROCESS_CPUCLOCK)
HAS_PROC = os.path.exists("/proc/self/stat")


def _read(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode("ascii", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


class CgroupFile:
    """One cgroup file, re-read through a descriptor kept open: `pread` at offset 0 has the kernel render it
    afresh, so a reading is one call (about 1 us) instead of open, read and close (about 6 us)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.fd: int | None = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.fd = None  # read by name each time (and None while it cannot be read)

    def read(self) -> str | None:
        fd = self.fd
        if fd is None:
            return _read(self.path)
        try:
            return os.pread(fd, 4096, 0).decode("ascii", "replace")
        except OSError:
            return None

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


class CgroupCpu:
    """Seconds of CPU a cgroup's processes used: v1 `cpuacct.usage` (nanoseconds) or v2 `cpu.stat` `usage_usec`
    (microseconds, always present). Callable (a CpuReader); `close()` once the cgroup is removed."""

    def __init__(self, directory: Path, version: int) -> None:
        self.version = version
        self.file = CgroupFile(str(directory / ("cpuacct.usage" if version == 1 else "cpu.stat")))

    def __call__(self) -> float | None:
        text = self.file.read()
        if text is None:
            return None
        if self.version == 1:
            try:
                return int(text) / 1e9
            except ValueError:
                return None
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                with contextlib.suppress(ValueError):
                    return int(value) / 1e6
        return None

    def close(self) -> None:
        self.file.close()


def cgroup_v1_reader(directory: Path) -> CgroupCpu:
    """Seconds of CPU the cgroup's processes used, from v1 `cpuacct.usage` (nanoseconds)."""
    return CgroupCpu(directory, 1)


def cgroup_v2_reader(directory: Path) -> CgroupCpu:
    """Seconds of CPU the cgroup's processes used, from v2 `cpu.stat` `usage_usec` (always present)."""
    return CgroupCpu(directory, 2)


def children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (empty when it is gone)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        text = _read(f"/proc/{pid}/task/{tid}/children")
        if text:
            out.extend(int(c) for c in text.split())
    return out


def process_cpu(pid: int) -> float | None:
    """Seconds of CPU `pid` used: its own (every thread, living or ended) and its reaped children's.

    Its own time comes from the kernel's runtime clock of the thread group (nanoseconds; the
    `utime + stime` of /proc/<pid>/stat, in clock ticks, where that clock cannot be read), its
    reaped children's from `cutime + cstime` (clock ticks: 10 ms at the usual CLK_TCK of 100).
    None when the process is gone.
    """
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    fields = text.rpartition(")")[2].split()  # after the command name, which may hold spaces
    try:
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    except ValueError:
        return None
    try:
        own = time.clock_gettime_ns(((~pid) << 3) | CPUCLOCK_SCHED) / 1e9
    except (OSError, AttributeError, OverflowError):
        own = (utime + stime) / CLOCK_TICKS
    return own + (cutime + cstime) / CLOCK_TICKS


def process_tree_cpu(root: int) -> CpuReader:
    """Seconds of CPU the tree of processes under (and at) `root` used: each living process's own
    and its reaped children's (so a child that ended counts once, in its reaper's total).

    Two holes, which a cgroup does not have: a process that leaves the tree (reparented to an init
    outside it, e.g. a double-forked daemon in a sandbox without a PID namespace of its own) is no
    longer counted, and a child reaped by the kernel (its parent ignores SIGCHLD) never adds its time
    to its parent's cutime: it counts only while it lives. None when `root` is gone.
    """

    def read() -> float | None:
        total = process_cpu(root)
        if total is None:
            return None
        seen = {root}
        level = children(root)
        while level:
            following: list[int] = []
            for pid in level:
                if pid in seen:
                    continue
                seen.add(pid)
                used = process_cpu(pid)
                if used is not None:  # else it ended while we looked: its reaper's total holds its time from now on
                    total += used
                following.extend(children(pid))
            level = following
        return total

    return read


def wall_clock() -> float | None:
    """The wall clock: where no CPU accounting can be read from outside the worker."""
    return time.perf_counter()
