"""The isolating sandbox: bubblewrap namespaces, a read-only view of the interpreter, a private tmpfs.

Every worker gets fresh user (or, as root, an unprivileged uid), PID, network, IPC, UTS and mount
namespaces; a root filesystem that exposes only /usr, the interpreter's prefix and the worker's own
code (at /guest), read-only, with selftaught itself hidden; a private /proc, /dev and size-limited
/tmp; an environment rebuilt from nothing; no capabilities, no new privileges, and a seccomp filter
where one is available.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
from pathlib import Path

from selftaught.sandbox import _seccomp
from selftaught.sandbox._cgroup import Cgroups
from selftaught.sandbox._hide import hiding_args
from selftaught.sandbox._process import GUEST_DIR, user_process_count, worker_environment
from selftaught.sandbox._uids import UidPool, drop_to, find_setpriv
from selftaught.sandbox._worker_process import Launch, Limits, WorkerProcess

ROOT_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
GUEST_MOUNT = "/guest"  # where the worker's own code is, inside: a neutral place, not the package's
# What bubblewrap itself starts with (its own environment is visible to the sandbox's pid 1).
BWRAP_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def interpreter_paths() -> list[str]:
    """Directories the worker's interpreter needs outside /usr: its prefixes and site-packages."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  str(Path(os.path.realpath(sys.executable)).parent.parent)}
    candidates.update(p for p in site.getsitepackages() if os.path.isdir(p))
    real = sorted({os.path.realpath(p) for p in candidates if p and os.path.isdir(p)})
    kept: list[str] = []
    for path in real:
        if path == "/usr" or path.startswith("/usr/"):
            continue  # /usr is bound whole
        if any(path == k or path.startswith(k + "/") for k in kept):
            continue
        kept.append(path)
    return kept


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


class BwrapSandbox:
    """Runs each program in a fresh bubblewrap sandbox (see the module docstring).

    As root, bubblewrap sets up the namespaces and `setpriv` drops the program to an unprivileged
    uid of its own (so RLIMIT_NPROC binds and no capability remains). As an ordinary user, an
    unprivileged user namespace is used and the user's own process count is taken into account.
    """

    name = "bwrap"
    isolated = True

    def __init__(self, limits: Limits | None = None, *, bwrap: str | None = None, seccomp: bool = True) -> None:
        self.limits = limits or Limits()
        self.bwrap = bwrap or shutil.which("bwrap") or "bwrap"
        self.as_root = os.getuid() == 0
        self.setpriv = find_setpriv() if self.as_root else None
        self.seccomp_filter = _seccomp.build_filter() if seccomp else None
        self.uids = UidPool()
        self.cgroups = Cgroups()
        self._static = self._static_args()

    def _static_args(self) -> list[str]:
        args = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
        if not self.as_root:
            args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        for key, value in worker_environment().items():
            args += ["--setenv", key, value]
        args += ["--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp"]
        limits = self.limits
        # Private /proc, /dev and /tmp first: the read-only binds below go on top of them, so code
        # that lives under /tmp (a checkout, a virtualenv) stays visible inside the sandbox.
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
                 "--perms", "1777", "--size", str(1 << 20), "--tmpfs", "/dev/shm"]
        args += ["--ro-bind", "/usr", "/usr"]
        visible = ["/usr"]
        for path in ROOT_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
                visible.append(path)
        made: set[str] = set()
        for path in interpreter_paths():
            for parent in _ancestors(path):
                if parent not in made and not parent.startswith("/usr") and parent != "/tmp":
                    made.add(parent)
                    args += ["--perms", "0755", "--dir", parent]
            args += ["--ro-bind", path, path]
            visible.append(path)
        args += ["--ro-bind", str(GUEST_DIR), GUEST_MOUNT]
        # selftaught itself (package, metadata, editable-install files) stays out of the worker's view
        args += hiding_args(visible)
        args += ["--chdir", "/tmp", "--remount-ro", "/"]
        return args

    def command(self, uid: int, script: str = "worker.py", extra: tuple[str, ...] = (),
                mounts: tuple[str, ...] = ()) -> tuple[list[str], tuple[int, ...]]:
        """The full command line for one worker (or, with `script`, another guest script given `extra`
        arguments, in a sandbox with bubblewrap's `mounts` options added), and the descriptors it needs."""
        args = [*self._static, *mounts]
        fds: list[int] = []
        if self.seccomp_filter is not None:
            read_fd, write_fd = os.pipe()
            os.write(write_fd, self.seccomp_filter)
            os.close(write_fd)
            fds.append(read_fd)
            args += ["--seccomp", str(read_fd)]
        args.append("--")
        if self.as_root:
            args += drop_to(self.setpriv or "setpriv", uid)
        args += [sys.executable, "-I", f"{GUEST_MOUNT}/{script}", *extra]
        return args, tuple(fds)

    def launch(self, seed: int = 0) -> WorkerProcess:
        """Starts a fresh, confined worker for one program."""
        return WorkerProcess(self.plan(), self.limits, seed)

    def plan(self, script: str = "worker.py", extra: tuple[str, ...] = (), pass_fds: tuple[int, ...] = (),
             mounts: tuple[str, ...] = (), extra_processes: int = 0) -> Launch:
        """How to start one sandbox running `script` (see `command`), with `pass_fds` passed in too and room in
        its pids cgroup for `extra_processes` more processes than a worker's."""
        if self.as_root:
            uid, _exclusive = self.uids.acquire()
            nproc = self.limits.processes
        else:
            uid = os.getuid()
            nproc = user_process_count(uid) + self.limits.processes
        argv, fds = self.command(uid, script, extra, mounts)
        # bubblewrap, its pid 1 and the worker come on top of the program's own processes
        cgroup = self.cgroups.create(self.limits.memory_mb, self.limits.processes + 4 + extra_processes)
        if cgroup is not None:
            argv = cgroup.wrap(argv)

        def on_exit() -> None:
            if self.as_root:
                self.uids.release(uid)

        return Launch(argv, dict(BWRAP_ENV), cwd="/", pass_fds=fds + pass_fds, nproc=nproc, on_exit=on_exit,
                      kill_children_first=True, cgroup=cgroup)
