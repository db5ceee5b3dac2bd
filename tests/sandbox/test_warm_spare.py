"""A zygote forks its next child ahead (after it starts and after each clean sweep): that child holds nothing of the
zygote's while it waits, ends with its zygote, and the program it serves sees what a child forked on demand saw."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from sandbox_support import program, report_of, wait_until
from selftaught.evaluate import evaluate
from selftaught.sandbox import BwrapSandbox, WarmPool
from selftaught.sandbox._cputime import children
from selftaught.sandbox._run_file import run_file
from support import TEST_SECRET, SumTask

ANSWER = "def algorithm(a):\n    return int(a.sum())\n"


@pytest.fixture
def pool() -> Iterator[WarmPool]:
    sandbox = BwrapSandbox()
    if os.getuid() != 0 or sandbox.setpriv is None:
        pytest.skip("these tests run as root (a sandbox uid per zygote)")
    with WarmPool(sandbox, size=2) as warm:  # one stays idle during a launch: no spare zygote starts meanwhile
        warm.warm()
        yield warm


def descriptors(pid: int) -> dict[int, str]:
    """What each of `pid`'s descriptors is (a path, pipe:[n], socket:[n])."""
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            found[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
    return found


def the_spare(zygote: int) -> int:
    """The zygote's one child, once it waits (its stdin on /dev/null: it has closed the zygote's channels)."""
    assert wait_until(lambda: len(children(zygote)) == 1, 5), children(zygote)
    spare = children(zygote)[0]
    assert wait_until(lambda: descriptors(spare).get(0) == "/dev/null", 5), descriptors(spare)
    return spare


def test_the_child_forked_ahead_holds_none_of_the_zygotes_channels(pool: WarmPool) -> None:
    zygote = pool.idle()[-1]
    spare = the_spare(zygote)
    own = descriptors(zygote)
    waiting = descriptors(spare)
    # the control: the zygote holds the host's pipes (stdin, stdout) and the socket the host sends descriptors on
    assert own[0].startswith("pipe:") and own[1].startswith("pipe:")
    host_socket = {target for fd, target in own.items() if fd > 2 and target.startswith("socket:")}
    assert host_socket
    assert waiting[0] == waiting[1] == "/dev/null", waiting
    assert waiting[2] == own[2]  # the zygote's stderr, until its own arrives
    assert len(waiting) == 4 and waiting[max(waiting)].startswith("socket:"), waiting  # its own socket only
    assert not host_socket & set(waiting.values())


def test_the_child_forked_ahead_ends_with_its_zygote(pool: WarmPool) -> None:
    zygote = pool.idle()[-1]  # the one the next launch takes
    spare = the_spare(zygote)
    os.kill(zygote, signal.SIGKILL)
    assert wait_until(lambda: not os.path.exists(f"/proc/{spare}"), 5)
    # the pool notices when it takes it, and another zygote serves
    assert evaluate(SumTask(), ANSWER, "val", sandbox=pool, secret=TEST_SECRET).score == 1.0
    assert zygote not in pool.idle()


LOOK = '''
import os
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        pass  # the directory listed
report(pid=os.getpid(), sid=os.getsid(0), pgid=os.getpgid(0), fds=fds)
'''


def kinds(fds: dict[str, str]) -> dict[str, str]:
    """What each descriptor is: its stderr capture (a host file), a pipe, /dev/null."""
    return {fd: "pipe" if target.startswith("pipe:") else target if target == "/dev/null" else "capture"
            for fd, target in fds.items()}


def test_a_child_forked_ahead_has_what_a_cold_worker_has(pool: WarmPool) -> None:
    spare = the_spare(pool.idle()[-1])  # the next launch's (the most recently used idle zygote's)
    seen = report_of(run_file(pool, program(LOOK)))
    cold = report_of(run_file(BwrapSandbox(), program(LOOK)))  # the control: a fresh worker
    assert kinds(seen["fds"]) == kinds(cold["fds"]), (seen, cold)
    assert seen["sid"] == seen["pgid"] == seen["pid"]  # a session and process group of its own
    second = report_of(run_file(pool, program(LOOK)))
    assert kinds(second["fds"]) == kinds(cold["fds"])
    assert not pool.discarded  # both swept clean
    for zygote in pool.idle():  # each idle zygote has its next child waiting, forked afresh
        assert the_spare(zygote) != spare
