"""Per-worker cgroups (memory and pids, and CPU accounting) where the cgroup filesystem is writable, typically as root.

rlimits bound each process; a cgroup bounds the whole sandbox, forks included. A worker joins
its cgroups before bubblewrap starts (a tiny shell shim writes its pid, then execs), so every
process of the sandbox is inside from the first instruction. The same cgroup counts the CPU time
of all those processes, which the orchestrator charges to the candidate (v1: a `cpuacct` cgroup
where that controller is mounted and writable; v2: `cpu.stat`, present in every cgroup).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from selftaught.sandbox._cputime import CpuReader, cgroup_v1_reader, cgroup_v2_reader

ROOT = Path("/sys/fs/cgroup")
# Joins the cgroup.procs files given first (their count, then paths), then execs the command.
JOIN_SHIM = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"'


@dataclass
class WorkerCgroup:
    """The cgroup directories of one worker; `remove()` once its processes are gone.

    Attributes:
      cpu: reads the seconds of CPU the worker's processes used (None: no CPU accounting here).
      cpu_source: what `cpu` reads, for reports.
      memory_events: the memory cgroup's file that counts its out-of-memory kills (`oom_kill N`).
    """

    dirs: list[Path]
    cpu: CpuReader | None = None
    cpu_source: str = ""
    memory_events: Path | None = None

    def oom_kills(self) -> int | None:
        """How many of the worker's processes the memory cgroup's out-of-memory killer has killed (None: unknown)."""
        if self.memory_events is None:
            return None
        try:
            lines = self.memory_events.read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return None

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv`, started inside these cgroups."""
        return ["/bin/sh", "-c", JOIN_SHIM, "sh", str(len(self.dirs)), *self.procs_files, *argv]

    def remove(self) -> None:
        close = getattr(self.cpu, "close", None)  # a descriptor kept open on its CPU accounting
        if callable(close):
            close()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    time.sleep(0.02)


def _own_path(controller: str) -> str | None:
    """This process's cgroup path for `controller` (v1), or the unified path ("" controller, v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return None


def _writable(directory: Path) -> bool:
    probe = directory / f"selftaught-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.rmdir()
    return True


class Cgroups:
    """Creates per-worker memory and pids cgroups under this process's own (v1 or v2), and a CPU
    accounting one (v1 `cpuacct`, where writable; v2 counts CPU in every cgroup)."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.bases: dict[str, Path] = {}
        if os.getuid() != 0:
            return  # ordinary users rarely have a delegated cgroup; rlimits apply instead
        v1 = {c: _own_path(c) for c in ("memory", "pids")}
        if all(v1.values()) and all((ROOT / c).is_dir() for c in v1):
            bases = {c: ROOT / c / str(p).lstrip("/") for c, p in v1.items()}
            if all(_writable(b) for b in bases.values()):
                self.version, self.bases = 1, bases
                own = _own_path("cpuacct")
                cpuacct = ROOT / "cpuacct" / str(own).lstrip("/")
                shared = cpuacct.resolve() in {b.resolve() for b in bases.values()}  # co-mounted: skip
                if own is not None and cpuacct.is_dir() and not shared and _writable(cpuacct):
                    self.bases["cpuacct"] = cpuacct
                return
        unified = _own_path("")
        if unified is not None and (ROOT / "cgroup.controllers").exists():
            base = ROOT / unified.lstrip("/")
            try:
                enabled = (base / "cgroup.subtree_control").read_text().split()
            except OSError:
                enabled = []
            if {"memory", "pids"} <= set(enabled) and _writable(base):
                self.version, self.bases = 2, {"unified": base}

    @property
    def available(self) -> bool:
        return self.version is not None

    def create(self, memory_mb: int, processes: int) -> WorkerCgroup | None:
        """A fresh cgroup (per controller) with the limits set, or None when cgroups are unavailable."""
        if not self.available:
            return None
        name = f"selftaught-{uuid.uuid4().hex[:12]}"
        limit = str(memory_mb * 1024 * 1024)
        dirs: list[Path] = []
        cpu: CpuReader | None = None
        source = ""
        events: Path | None = None
        try:
            for controller, base in self.bases.items():
                d = base / name
                d.mkdir()
                dirs.append(d)
                if self.version == 1 and controller == "memory":
                    events = d / "memory.oom_control"
                    (d / "memory.limit_in_bytes").write_text(limit)
                    with contextlib.suppress(OSError):  # swap accounting may be off
                        (d / "memory.memsw.limit_in_bytes").write_text(limit)
                elif self.version == 1 and controller == "cpuacct":
                    cpu, source = cgroup_v1_reader(d), "cgroup v1 cpuacct.usage"
                elif self.version == 1:
                    (d / "pids.max").write_text(str(processes))
                else:
                    cpu, source = cgroup_v2_reader(d), "cgroup v2 cpu.stat"
                    events = d / "memory.events"
                    (d / "memory.max").write_text(limit)
                    with contextlib.suppress(OSError):
                        (d / "memory.swap.max").write_text("0")
                    (d / "pids.max").write_text(str(processes))
        except OSError:
            WorkerCgroup(dirs, cpu).remove()
            return None
        return WorkerCgroup(dirs, cpu, source, events)
