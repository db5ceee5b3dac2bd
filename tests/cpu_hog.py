"""A CPU hog for tests: busy processes on every core for the duration of a `with` block."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def cpu_hog(per_core: int = 1) -> Iterator[list[int]]:
    """Runs `per_core` busy processes per core (os.cpu_count()) until the block ends; yields their pids.

    Each runs in a session of its own, as a worker does: where the kernel groups tasks by session for
    fairness (autogroup), hogs in the caller's session would compete as one task with each worker.
    """
    procs = [subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"], start_new_session=True)
             for _ in range(per_core * (os.cpu_count() or 1))]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
