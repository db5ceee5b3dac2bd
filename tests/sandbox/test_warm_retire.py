"""An evaluation does not wait for its zygote's sweep, but no zygote serves again before its sweep has answered: a
clean one is reused, one that is not is destroyed, however soon the next launch comes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from selftaught.evaluate import evaluate
from selftaught.sandbox import BwrapSandbox, WarmPool
from support import TEST_SECRET, EchoTask, SumTask

ANSWER = "def algorithm(a):\n    return int(a.sum())\n"
# How many System V objects of each kind (shared memory, message queues, semaphores) the program sees.
COUNT = '''
def _count():
    return [len(open(f"/proc/sysvipc/{k}").read().splitlines()) - 1 for k in ("shm", "msg", "sem")]
'''
# Leaves one of each (the sweep cannot remove them: it finds them and the zygote is destroyed), and says what it saw.
LEAVE = COUNT + '''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget(0x5e1f, 4096, 0o1000 | 0o600)
libc.msgget(0x5e1f, 0o1000 | 0o600)
libc.semget(0x5e1f, 1, 0o1000 | 0o600)

def algorithm(x):
    return _count()
'''
LOOK = COUNT + '''
def algorithm(x):
    return _count()
'''


@pytest.fixture
def bwrap() -> BwrapSandbox:
    sandbox = BwrapSandbox()
    if os.getuid() != 0 or sandbox.setpriv is None:
        pytest.skip("these tests run as root (a sandbox uid per zygote)")
    return sandbox


@pytest.fixture
def single(bwrap: BwrapSandbox) -> Iterator[WarmPool]:
    """One zygote: the next launch can only reuse it, once its sweep has answered clean, or start another."""
    with WarmPool(bwrap, size=1) as warm:
        warm.warm()
        yield warm


def seen(pool: WarmPool, program: str) -> list[int]:
    task = EchoTask()
    result = evaluate(task, program, "val", sandbox=pool, secret=TEST_SECRET)
    assert result.failure is None and not result.failures, result
    output: list[int] = task.outputs[0]
    return output


def test_a_zygote_whose_sweep_is_not_clean_never_serves_again(single: WarmPool) -> None:
    started = single.started
    assert seen(single, LEAVE) == [1, 1, 1]  # the control: in its own sandbox they are there
    assert seen(single, LOOK) == [0, 0, 0]  # launched at once: not in that sandbox
    assert single.started > started  # a fresh zygote served
    assert any("System V" in why for why in single.discarded), single.discarded


def test_a_clean_zygote_serves_again_once_its_sweep_has_answered(single: WarmPool) -> None:
    started, zygote = single.started, single.idle()
    for _ in range(5):
        assert seen(single, LOOK) == [0, 0, 0]
    assert single.started == started and single.idle() == zygote  # the same zygote, every time
    assert not single.discarded


def test_launches_from_several_threads_while_zygotes_sweep(bwrap: BwrapSandbox) -> None:
    with WarmPool(bwrap, size=2) as pool:
        pool.warm()
        with ThreadPoolExecutor(max_workers=3) as threads:
            scores = list(threads.map(
                lambda _: evaluate(SumTask(), ANSWER, "val", sandbox=pool, secret=TEST_SECRET).score, range(12)))
        assert scores == [1.0] * 12
        assert not pool.discarded
        assert 1 <= len(pool.idle()) <= 2
