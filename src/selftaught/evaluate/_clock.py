"""Waiting for a worker's message while charging its CPU time, read by the host, against a budget and its backstops.

What the host itself spends reading and decoding a worker's messages (this thread's CPU time) is
charged to the program too (`HostCharge`): an output that is cheap to make and costly to decode
pays for its decoding, within the same limit.
"""

from __future__ import annotations

import time
from typing import Any

from selftaught.evaluate._limits import backstop_for
from selftaught.sandbox import ChannelClosed, ChannelTimeout, Worker
from selftaught.sandbox._channel import INTERRUPT_GRACE
from selftaught.sandbox._guest import _wire

POLL_INTERVAL = 0.01  # seconds between CPU readings while a program works (k busy threads overshoot by k x this)


class HostCharge:
    """The host CPU seconds (this thread's) spent reading and decoding one call's (or one load's) messages."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def receive(self, worker: Worker, timeout: float, limit: int | None) -> dict[str, Any]:
        """`worker.receive`, its CPU time charged when a message came (reading and decoding it; a wait that
        times out costs the host a poll of its own choosing, not the program's)."""
        before = time.thread_time()
        message = worker.receive(timeout, limit)
        self.seconds += time.thread_time() - before
        return message

    def decode(self, data: Any) -> Any:
        """`_wire.from_wire(data)`, its CPU time charged (raises WireError)."""
        before = time.thread_time()
        try:
            return _wire.from_wire(data)
        finally:
            self.seconds += time.thread_time() - before


def await_message(worker: Worker, budget: float, start_cpu: float, started: float, deadline: float,
                  charge: HostCharge, limit: int | None,
                  *, just_read: bool = False) -> tuple[dict[str, Any] | None, str | None, float]:
    """The worker's next message (at most `limit` bytes), while the program is within `budget` CPU seconds (the
    worker's since `start_cpu`, plus `charge`), the budget's wall-clock backstop since `started`, and the
    evaluation's `deadline` (perf_counter values).

    Returns (message, None, worker CPU used) or, once one of those is over, (None, "cpu" | "wall" |
    "deadline", worker CPU used). The CPU time is read every POLL_INTERVAL at most, and waits never
    exceed the budget left: a single thread cannot use more CPU than wall time passes. `just_read`: the
    caller read `start_cpu` a moment ago (just before sending what the worker answers), so the first wait
    goes by that reading (none used yet) instead of another, which would say the same.
    """
    backstop = started + backstop_for(budget)
    fresh = just_read
    while True:
        used = 0.0 if fresh else max(0.0, worker.cpu_time() - start_cpu)
        fresh = False
        now = time.perf_counter()
        if used + charge.seconds > budget:
            return None, "cpu", used
        if now >= deadline:
            return None, "deadline", used
        if now >= backstop:
            return None, "wall", used
        wait = min(budget - used - charge.seconds, POLL_INTERVAL, backstop - now, deadline - now)
        try:
            return charge.receive(worker, wait, limit), None, used
        except ChannelTimeout:
            continue


def stop(worker: Worker, charge: HostCharge, limit: int | None) -> dict[str, Any] | None:
    """Interrupts the program and waits INTERRUPT_GRACE seconds (wall clock) for its answer (at most `limit`
    bytes); None if none came (it did not stop, died, sent too much or broke the protocol): the caller kills it."""
    worker.interrupt()
    try:
        return charge.receive(worker, INTERRUPT_GRACE, limit)
    except (ChannelTimeout, ChannelClosed):
        return None


def cpu_used(worker: Worker, start_cpu: float, last: float) -> float:
    """CPU seconds since `start_cpu` (`last`, the latest reading, if the worker is gone by now)."""
    try:
        return max(last, worker.cpu_time() - start_cpu)
    except ChannelClosed:
        return last
