"""The zygote's child: forked ahead, it waits for its descriptors, holding nothing of the zygote's; then a worker.

See `zygote.py`. While it waits it rehearses the steps of its setup that change nothing, so the pages they
write are copied before a program waits for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import sys

import _state  # type: ignore[import-not-found]
import _wire  # type: ignore[import-not-found]
import worker  # type: ignore[import-not-found]

PR_SET_DUMPABLE = 4


def prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")


def _close_all_but(keep: int) -> None:
    """Closes every descriptor from 3 up but `keep`."""
    top = os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 65536
    os.closerange(3, keep)
    os.closerange(keep + 1, top)


class Spare:
    """A child forked ahead, waiting for its descriptors on a socket of its own (`hand` them over, once)."""

    def __init__(self) -> None:
        mine, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.pid = os.fork()
        if self.pid == 0:
            mine.close()
            _wait_for_descriptors(its)
        its.close()
        self.socket = mine

    def hand(self, fds: list[int]) -> None:
        """Sends the child its stdin, stdout and stderr (OSError: it is gone)."""
        try:
            socket.send_fds(self.socket, [b"F"], fds)
        finally:
            self.socket.close()


def _wait_for_descriptors(its: socket.socket) -> None:
    """In the child forked ahead: nothing of the zygote's (its control channel and the host's socket closed, its
    stdin and stdout on /dev/null; its stderr is the zygote's until replaced) but `its`, where the descriptors
    come."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        _close_all_but(its.fileno())
        with contextlib.suppress(Exception):  # only ever saves time
            _rehearse()
        _data, fds, _flags, _addr = socket.recv_fds(its, 16, 3)
        if len(fds) == 3:  # else the zygote is gone, or failed to send them: nothing to serve
            become_worker(fds)
    finally:
        os._exit(70)


# A setup message as the host sends one (its values do not matter: nothing is set from it here).
REHEARSAL_LIMITS = {"memory_mb": 4096, "file_size_mb": 64, "cpu_seconds": 3600, "open_files": 256, "processes": 65}
REHEARSAL_PROGRAM = "def algorithm(*args):\n    return [0] * len(args)\n"


def _rehearse() -> None:
    """In the child forked ahead, while it waits: the steps of its setup and load that change nothing (a setup
    message decoded, the limits read, libc opened for prctl, a program compiled, `random` and numpy seeded: the
    setup seeds them again), so the pages they write are copied now rather than once a program waits for it
    (about 180 copy-on-write faults, half a millisecond or more)."""
    prctl(PR_SET_DUMPABLE, 0)  # as it is
    setup = {"op": "setup", "limits": REHEARSAL_LIMITS, "seed": 0, "rlimits": _state.rlimits(), "ack": True}
    _wire.decode(_wire.encode(setup), attached=True)
    _wire.encode({"op": "set_up"})
    random.seed(0)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(0)
    for root in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.abspath(__file__))):
        os.path.realpath(root)
    compile(REHEARSAL_PROGRAM, "<candidate>", "exec")


def become_worker(fds: list[int]) -> None:
    """In the forked child: the received descriptors as 0, 1, 2, nothing else of the zygote's; then the worker."""
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        _close_all_but(2)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        # A session and process group of its own: a signal, priority or autogroup change addressed to its own
        # process group or session then reaches the program's processes only, never the zygote.
        os.setsid()
        prctl(PR_SET_DUMPABLE, 1)  # as a freshly started worker is (the zygote is not)
        worker.main()
    finally:
        os._exit(70)
