"""SIGTERM as Ctrl-C: a run stops the same clean way (summary saved, workers killed) whichever it gets."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
STRAGGLER_GRACE = 2.0  # seconds an interrupted run's background threads get before the process exits anyway


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (raised in the main thread, where Ctrl-C raises KeyboardInterrupt)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated("terminated")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises Terminated in the main thread (outside the main thread: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_now_if_stragglers(code: int) -> None:
    """After an interrupted command: threads still serving work the run dropped (an LM request that will only
    time out, say) must not hold the process; it exits once they end or after STRAGGLER_GRACE seconds."""
    if code not in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        return
    deadline = time.monotonic() + STRAGGLER_GRACE
    while time.monotonic() < deadline:
        if not [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]:
            return
        time.sleep(0.05)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
