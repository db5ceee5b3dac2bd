"""Waiting for a worker's message while charging its CPU time, read by the host, against a budget and its backstops."""

from __future__ import annotations

import time
from typing import Any

from selftaught.evaluate._limits import backstop_for
from selftaught.sandbox import ChannelClosed, ChannelTimeout, Worker

POLL_INTERVAL = 0.01  # seconds between CPU readings while a program works (k busy threads overshoot by k x this)


def await_message(worker: Worker, budget: float, start_cpu: float, started: float,
                  deadline: float) -> tuple[dict[str, Any] | None, str | None, float]:
    """The worker's next message, while it is within `budget` CPU seconds since `start_cpu`, the
    budget's wall-clock backstop since `started`, and the evaluation's `deadline` (perf_counter values).

    Returns (message, None, CPU used) or, once one of those is over, (None, "cpu" | "wall" |
    "deadline", CPU used). The CPU time is read every POLL_INTERVAL at most, and waits never
    exceed the budget left: a single thread cannot use more CPU than wall time passes.
    """
    backstop = started + backstop_for(budget)
    while True:
        used = max(0.0, worker.cpu_time() - start_cpu)
        now = time.perf_counter()
        if used > budget:
            return None, "cpu", used
        if now >= deadline:
            return None, "deadline", used
        if now >= backstop:
            return None, "wall", used
        wait = min(budget - used, POLL_INTERVAL, backstop - now, deadline - now)
        try:
            return worker.receive(wait), None, used
        except ChannelTimeout:
            continue


def cpu_used(worker: Worker, start_cpu: float, last: float) -> float:
    """CPU seconds since `start_cpu` (`last`, the latest reading, if the worker is gone by now)."""
    try:
        return max(last, worker.cpu_time() - start_cpu)
    except ChannelClosed:
        return last
