"""Speculation (`--speculate`): scoring the code an improver's LM call returned before the improver asks.

When an improver's LM call returns, the code blocks of its replies (as `helpers.extract_code`
finds them: the largest block of each reply) are what it will most likely score next, as the
paper's seed improver does with `max(candidates, key=utility)`. Speculation starts those scorings
at once, in the background, without charging the utility's budget; when the improver asks, it is
served the result (the scorings are deterministic and cached per run, so the result is the one it
would have computed). What was scored but never asked for is reported in usage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextvars import Context
from typing import Any

from selftaught.sandbox._guest.helpers import extract_code

SPECULATION_THREADS = 16  # speculative scorings started at once (they wait on the executor and the LM themselves)


def code_candidates(replies: Any, limit: int) -> list[str]:
    """The distinct programs an improver would score from `replies` (a list of LM replies), at most `limit`."""
    if not isinstance(replies, list) or limit <= 0:
        return []
    out: list[str] = []
    for code in [extract_code(reply) for reply in replies]:
        if isinstance(code, str) and code.strip() and code not in out:
            out.append(code)
        if len(out) >= limit:
            break
    return out


class Speculation:
    """The background scorings of a run, and the ledger of what was speculated and what was asked for.

    `kinds` are `evaluations` (a solution scored on a task split) and `meta_scores` (an improver's
    meta-utility, whose downstream runs call the LM: their calls are counted as `lm_calls`).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._speculated: dict[str, set[Hashable]] = {}
        self._asked: dict[str, set[Hashable]] = {}
        self._lm_calls: dict[Hashable, int] = {}
        self._pending: list[Future[Any]] = []

    def start(self, work: Callable[[], Any]) -> None:
        """Runs `work` in the background (its failure is the asker's to meet: it is not reported here), in a
        context of its own: it records what it decides to (see `selftaught.broker._held`), never into the
        records of the computation that started it."""
        if not self.enabled:
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=SPECULATION_THREADS, thread_name_prefix="speculate")
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._pool.submit(Context().run, work))

    def note(self, kind: str, key: Hashable, *, speculative: bool, lm_calls: int = 0) -> None:
        """Records that `key` was scored speculatively, or asked for by an improver."""
        with self._lock:
            (self._speculated if speculative else self._asked).setdefault(kind, set()).add(key)
            if lm_calls:
                self._lm_calls[key] = lm_calls

    def report(self) -> dict[str, int]:
        """Speculative work per kind, and what of it no improver ever asked for (`*_unused`, `lm_calls_unused`)."""
        with self._lock:
            out: dict[str, int] = {}
            unused_calls = 0
            for kind in ("evaluations", "meta_scores"):
                speculated = self._speculated.get(kind, set())
                unused = speculated - self._asked.get(kind, set())
                out[kind] = len(speculated)
                out[f"{kind}_unused"] = len(unused)
                unused_calls += sum(self._lm_calls.get(key, 0) for key in unused)
            out["lm_calls_unused"] = unused_calls
            return out

    def drain(self) -> None:
        """Waits until every scoring started so far has finished."""
        with self._lock:
            pending = list(self._pending)
        wait(pending)

    def close(self, wait: bool = True) -> None:
        """Drops the scorings not yet started and, with `wait`, waits for those running (so the ledger is final)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
