"""The zygote: a warm interpreter in a sandbox of its own that forks one fresh worker per program, then sweeps.

Started by the orchestrator as `python -I zygote.py FD` (FD: a unix socket the host sends each child's
descriptors over) in a bubblewrap sandbox exactly like a worker's. It imports numpy and the worker's
modules, runs no program itself, and makes itself non-dumpable, so a child (same uid) cannot read its
memory or environment through /proc. Control messages are JSON lines on stdin/stdout:

  host -> zygote  {"op": "setup", ...}   (first, from the host's process launcher: ignored)
  zygote -> host  {"op": "ready"}        (preloaded)
  host -> zygote  {"op": "fork"}         + stdin, stdout, stderr of the child over the socket (SCM_RIGHTS)
  zygote -> host  {"op": "forked", "pid": N}  (N: the child's pid in the sandbox)
  host -> zygote  {"op": "retire"}       (the child is ended, reaped, and everything it left is swept)
  zygote -> host  {"op": "swept", "status": S, "clean": bool, "why": str}

One child at a time. The child is forked ahead (`_child.Spare`): once the zygote is ready, and after each clean
sweep, so forking it and its first steps (the pages it copies) are off the path of the next launch. It
closes everything of the zygote's but a socket of its own, on which it waits for the host's descriptors;
then it takes a session of its own and becomes an ordinary worker (`worker.main`).
The sweep kills every process of the sandbox but the zygote and the sandbox's init (`kill(-1, SIGKILL)`:
safe only because the zygote is alone in a PID namespace of its own), empties the writable directories,
and checks that the sandbox, and the zygote's own state that children inherit (`_state`: its limits,
scheduling, affinity...), are as the zygote found them; `clean` false means the host must destroy this sandbox.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import stat
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# What a worker imports by the end of its setup (`worker._apply_limits`, `worker._seed`), so a child starts with the
# same modules loaded as a fresh worker, only sooner; numpy.random alone takes about 30 ms to import.
import random  # noqa: F401
import resource  # noqa: F401

import _audit  # type: ignore[import-not-found]  # noqa: F401  (preloaded for the children)
import _child  # type: ignore[import-not-found]
import _state  # type: ignore[import-not-found]
import _wire  # type: ignore[import-not-found]
import helpers  # type: ignore[import-not-found]  # noqa: F401
import worker  # type: ignore[import-not-found]  # noqa: F401

with contextlib.suppress(ImportError):
    import numpy
    import numpy.random  # noqa: F401

SCRATCH = ("/tmp", "/dev/shm", "/dev/mqueue")  # what a child may write (the rest is read-only)
SYSV_IPC = ("/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem")
# Per network namespace: sockets in use and TCP connections in TIME-WAIT (the tables themselves, /proc/net/tcp,
# take milliseconds each to read: the kernel walks its global hash table).
SOCKSTAT = ("/proc/net/sockstat", "/proc/net/sockstat6")
SETTLE = 2.0  # seconds the killed processes get to be reaped by the sandbox's init


class Control:
    """The host's channel: JSON lines read from fd 0 unbuffered by Python's stdin (a child inherits no data)."""

    def __init__(self) -> None:
        self.buffer = b""

    def receive(self) -> dict[str, Any] | None:
        while b"\n" not in self.buffer:
            chunk = os.read(0, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message: dict[str, Any] = _wire.decode(line)
        return message

    @staticmethod
    def send(message: dict[str, Any]) -> None:
        os.write(1, _wire.encode(message))


def _snapshot() -> dict[str, Any]:
    """What the sweep compares against: the scratch directories' owners and modes, /dev, the mounts, own state
    (working directory, umask, and what children inherit: limits, scheduling, affinity...)."""
    dirs: dict[str, tuple[int, int, int] | None] = {}
    for path in (*SCRATCH, "/dev"):
        try:
            st = os.stat(path)
            dirs[path] = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        except OSError:
            dirs[path] = None
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    return {"dirs": dirs, "dev": sorted(os.listdir("/dev")), "mounts": mounts, "cwd": os.getcwd(),
            "umask": _umask(), "layout": {path: _layout(path) for path in SCRATCH}, "inherited": _state.snapshot()}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def _layout(directory: str) -> dict[str, tuple[int, int, int, bool]]:
    """What `directory` holds, without crossing into other mounts: relative path -> (uid, gid, mode, is a mount).

    Taken when the zygote starts, it is the sandbox's own layout: a scratch directory is not always empty
    (when the interpreter or the code lives under /tmp, bubblewrap binds it there, read-only, and makes
    its parent directories). The sweep removes everything else and checks that this layout is unchanged.
    """
    found: dict[str, tuple[int, int, int, bool]] = {}

    def walk(path: str, device: int) -> None:
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            mount = st.st_dev != device
            found[os.path.relpath(entry.path, directory)] = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), mount)
            if stat.S_ISDIR(st.st_mode) and not mount:
                walk(entry.path, device)

    with contextlib.suppress(OSError):
        walk(directory, os.stat(directory).st_dev)
    return found


def _empty(directory: str, keep: dict[str, tuple[int, int, int, bool]], top: str | None = None) -> None:
    """Removes everything in `directory` but the sandbox's own layout `keep` (a child's files are its uid's, as
    the zygote's: all removable); never enters another mount."""
    top = top or directory
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        kept = keep.get(os.path.relpath(entry.path, top))
        try:
            if kept is not None:
                if entry.is_dir(follow_symlinks=False) and not kept[3]:
                    _empty(entry.path, keep, top)
            elif entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)
                _empty(entry.path, {}, entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass  # the check below reports what is left


def _rows(path: str) -> list[str]:
    """The entries of a /proc table (its header dropped); a table that cannot be read counts as one entry."""
    try:
        with open(path) as f:
            return f.read().splitlines()[1:]
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"unreadable: {exc}"]


def _sockets_in_use() -> list[str]:
    """The network namespace's protocols with sockets in use (or TCP connections in TIME-WAIT), from sockstat."""
    busy = []
    for path in SOCKSTAT:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as exc:
            return [f"{path} unreadable: {exc}"]
        for line in lines:
            protocol, _, rest = line.partition(":")
            fields = rest.split()
            counts = dict(zip(fields[::2], fields[1::2], strict=False))
            if counts.get("inuse", "0") != "0" or counts.get("tw", "0") != "0":
                busy.append(f"{protocol} {rest.strip()}")
    return busy


def _kill_the_rest(me: int) -> list[str]:
    """Kills every process the zygote may signal but itself (the sandbox's init is spared by the kernel) and
    waits until the init has reaped them all; returns what is still there."""
    deadline = time.monotonic() + SETTLE
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:  # nothing left to signal
            pass
        except OSError as exc:
            return [f"kill(-1): {exc}"]
        others = _pids() - {1, me}
        if not others:
            return []
        if time.monotonic() > deadline:
            return [f"processes left: {sorted(others)[:10]}"]
        time.sleep(0.002)


def sweep(child: int, fresh: dict[str, Any]) -> dict[str, Any]:
    """Ends the child, then everything it left; reports its status and whether the sandbox is as fresh."""
    try:
        done, status = os.waitpid(child, os.WNOHANG)
        if done == 0:
            os.kill(child, signal.SIGKILL)
            _, status = os.waitpid(child, 0)
    except ChildProcessError:
        status = -1
    code = os.waitstatus_to_exitcode(status) if status != -1 else None
    me = os.getpid()
    why = _kill_the_rest(me)
    for directory in SCRATCH:
        _empty(directory, fresh["layout"][directory])
    now = _snapshot()
    for directory in SCRATCH:
        left = sorted(set(now["layout"][directory]) - set(fresh["layout"][directory]))
        if left:
            why.append(f"{directory} cannot be emptied: {left[:5]}")
        elif now["layout"][directory] != fresh["layout"][directory]:
            why.append(f"{directory}: the sandbox's own entries changed")
    for key in ("dirs", "dev", "mounts", "cwd", "umask"):
        if now[key] != fresh[key]:
            why.append(f"{key} changed")
    changed = _state.changes(fresh["inherited"], now["inherited"])
    if changed:  # every later child would inherit it
        why.append(f"the zygote's own {', '.join(changed)} changed")
    for table in SYSV_IPC:
        if _rows(table):
            why.append(f"System V IPC objects left in {table}")
    busy = _sockets_in_use()
    if busy:
        why.append(f"sockets left: {', '.join(busy)}")
    named = [row for row in _rows("/proc/net/unix") if len(row.split()) > 7]
    if named:
        why.append(f"named unix sockets left: {len(named)}")
    if _pids() - {1, me}:
        why.append("a process appeared during the sweep")
    return {"op": "swept", "status": code, "clean": not why, "why": "; ".join(why)[:1000]}


def serve(control_fd: int) -> None:
    control = Control()
    setup = control.receive()
    if setup is None or setup.get("op") != "setup":
        return
    sock = socket.socket(fileno=control_fd)
    _child.prctl(_child.PR_SET_DUMPABLE, 0)
    # What is loaded now lives as long as the zygote: out of the collector's sight, so a child's collections
    # do not touch (and copy, page by page) the objects it shares with the zygote.
    gc.collect()
    gc.freeze()
    fresh = _snapshot()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # forking a threaded process would copy one thread of many: refuse to serve
        control.send({"op": "failed", "error": f"the zygote runs {threads} threads"})
        return
    control.send({"op": "ready"})
    spare: _child.Spare | None = _child.Spare()
    child: int | None = None
    while True:
        message = control.receive()
        if message is None:
            return
        op = message.get("op")
        if op == "fork" and child is None:
            _data, fds, _flags, _addr = socket.recv_fds(sock, 16, 3)
            if len(fds) != 3 or spare is None:
                control.send({"op": "failed", "error": f"{len(fds)} descriptors received, not 3" if spare else
                              "no child to hand them to"})
                for fd in fds:
                    os.close(fd)
                continue
            child = spare.pid
            try:
                spare.hand(fds)
            except OSError as exc:  # it died: the sweep reaps it; the host discards this zygote
                control.send({"op": "failed", "error": f"the child is gone: {exc}"})
                continue
            finally:
                spare = None
                for fd in fds:
                    os.close(fd)
            control.send({"op": "forked", "pid": child})
        elif op == "retire" and child is not None:
            report = sweep(child, fresh)
            child = None
            control.send(report)
            clean = report["clean"]
            del report  # nothing of the last child's (its exit status) in the frames the next one inherits
            if clean:  # else the host destroys this sandbox
                try:
                    spare = _child.Spare()
                except OSError:  # the next `fork` says so, and the host destroys this sandbox
                    spare = None
        else:
            control.send({"op": "failed", "error": f"unexpected {op!r:.40}"})


if __name__ == "__main__":
    serve(int(sys.argv[1]))
