"""Records held back while speculation computes a result, written only if (and when) an improver asks for it.

Count at the ask, compute anywhere: what a computation records (events, first sightings of programs, whether an
evaluation was asked before) belongs to the ask, not to whoever computed it. A speculative meta-score runs
whole improver runs before any improver asked for it; `HeldRecords` keeps what they would record, in order,
and `release` (the first ask) writes it then, as if computed at the ask. Never asked: never written.

Which records a thread's work goes to is a context variable (`holding`), so it follows the computation across
the threads it starts only where they copy their context (`contextvars.copy_context().run`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Write = Callable[[], None]

_HOLDING: ContextVar[HeldRecords | None] = ContextVar("selftaught_held_records", default=None)


class HeldRecords:
    """The writes of one speculative computation, kept until its first ask (`release`), then passed on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writes: list[Write] | None = []  # None once released
        self._outer: HeldRecords | None = None  # where the asker's own records go, once released

    def add(self, write: Write) -> None:
        """Keeps `write` until the release; after it, passes it on at once (the computation still runs)."""
        with self._lock:  # held while passing on: a write never overtakes the ones released before it
            if self._writes is not None:
                self._writes.append(write)
            else:
                record(write, self._outer)

    def release(self) -> None:
        """Writes what was kept, in order, where the calling thread records (its own held records, if any);
        later writes go there too. Only the first release does anything."""
        outer = _HOLDING.get()
        with self._lock:
            if self._writes is None:
                return
            writes, self._writes, self._outer = self._writes, None, outer
            for write in writes:
                record(write, outer)


def record(write: Write, held: HeldRecords | None) -> None:
    """Writes now, or keeps the write in `held` (when not None)."""
    if held is None:
        write()
    else:
        held.add(write)


def current() -> HeldRecords | None:
    """The held records the calling thread's work goes to (None: written at once)."""
    return _HOLDING.get()


@contextmanager
def holding(held: HeldRecords) -> Iterator[None]:
    """Within the block, this thread's records (and those of threads started with a copy of its context) go
    to `held`."""
    token = _HOLDING.set(held)
    try:
        yield
    finally:
        _HOLDING.reset(token)
