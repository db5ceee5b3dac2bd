"""Unprivileged uids for workers started by root: a pool of them, the setpriv command to drop to one, reachability."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

SANDBOX_UID_BASE = 61000
SANDBOX_UID_COUNT = 64
# Where setpriv lives when PATH does not say (util-linux installs it in /usr/bin).
SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


class UidPool:
    """Hands each concurrent sandbox its own uid, so RLIMIT_NPROC counts that sandbox alone.

    Uids are claimed with a lock file each (flock), so orchestrators running side by side on one
    machine never hand out the same uid; when all are taken, uids are shared round-robin.
    """

    def __init__(self, base: int = SANDBOX_UID_BASE, count: int = SANDBOX_UID_COUNT,
                 lock_dir: str | None = None) -> None:
        self.base, self.count = base, count
        self.lock_dir = Path(lock_dir or os.path.join(tempfile.gettempdir(), "selftaught-sandbox-uids"))
        self._held: dict[int, int] = {}
        self._next_shared = 0
        self._lock = threading.RLock()  # re-entrant: a garbage-collected worker may release its uid mid-acquire

    def acquire(self) -> tuple[int, bool]:
        """A uid and whether it is exclusive."""
        with self._lock:
            self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            for uid in range(self.base, self.base + self.count):
                if uid in self._held:
                    continue
                fd = os.open(self.lock_dir / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self._held[uid] = fd
                return uid, True
            self._next_shared = (self._next_shared + 1) % self.count
            return self.base + self._next_shared, False

    def release(self, uid: int) -> None:
        with self._lock:
            fd = self._held.pop(uid, None)
            if fd is not None:
                os.close(fd)  # closing drops the flock


def find_setpriv() -> str | None:
    """setpriv (util-linux), from PATH or the system directories."""
    return shutil.which("setpriv") or shutil.which("setpriv", path=SYSTEM_PATH)


def drop_to(setpriv: str, uid: int) -> list[str]:
    """The command prefix that runs a command as `uid` (its own group, no supplementary groups), with no
    capability left in any set and no_new_privs, so nothing it executes can gain privileges."""
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


def _allows(st: os.stat_result, uid: int, bits: int) -> bool:
    """Whether `uid` (group `uid`, no other groups) has every permission in `bits` (rwx as 4/2/1)."""
    if st.st_uid == uid:
        mode = (st.st_mode >> 6) & 7
    elif st.st_gid == uid:
        mode = (st.st_mode >> 3) & 7
    else:
        mode = st.st_mode & 7
    return mode & bits == bits


def blocker(uid: int, path: str, bits: int) -> tuple[str, int] | None:
    """The first directory on the way to `path` that `uid` cannot enter, or `path` itself when `uid` lacks
    `bits` on it: (that path, its mode); None when `uid` reaches it. Symbolic links are followed both
    ways: the directories named in `path` and those of its resolved location must all be enterable."""
    for route in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
        parts = Path(route).parts
        for i in range(1, len(parts)):
            directory = str(Path(*parts[:i]))
            try:
                st = os.stat(directory)
            except OSError:
                return directory, 0
            if not _allows(st, uid, 1):
                return directory, stat.S_IMODE(st.st_mode)
        try:
            st = os.stat(route)
        except OSError:
            return route, 0
        if not _allows(st, uid, bits):
            return route, stat.S_IMODE(st.st_mode)
    return None
