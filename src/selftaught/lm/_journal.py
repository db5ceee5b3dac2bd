"""The run's LM journal: every call's generation kept in the run directory, replayed as it was when a run resumes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from selftaught.errors import LMRefused, UserError
from selftaught.lm._base import Backend, CompletionRequest, Generation
from selftaught.lm._cached import REFUSED, CachedBackend, request_sample_key, store_sample
from selftaught.lm.cache import CachedSample, CacheUnusable, LMCache

_TABLE = """CREATE TABLE IF NOT EXISTS run_generations (
    key TEXT PRIMARY KEY,
    generation_json TEXT NOT NULL
)"""


class JournalBackend(Backend):
    """Wraps the run's backend: a request answered before (in this run, before an interruption) is answered again
    from the journal, with the same replies AND the same accounting (tokens, requests, cache hits), so a resumed
    run's usage, caps and results are those of an uninterrupted one; a new request goes to `inner` and is journaled.

    The journal is an LM cache file (`lm-cache.sqlite`: its samples are keyed as `--cache` keys them, so
    `--cache replay --cache-path RUN/lm-cache.sqlite` re-runs the run offline) with one more table, the
    generation of each request (keyed by request, stream seed, first sample and count). A request's samples are
    committed before its generation, which is the commit point: SQLite commits survive the process being killed.
    """

    def __init__(self, inner: Backend, path: Path, params: dict[str, Any], *, owns_inner: bool = True) -> None:
        self.inner = inner
        self.owns_inner = owns_inner  # False: `inner` is shared with other runs (a study's), closed by its owner
        self.path = path
        self.params = dict(params)
        self.name = inner.name
        self.model = inner.model
        self.notice = inner.notice
        try:
            self.cache = LMCache(path)
        except CacheUnusable as exc:
            raise _unusable(path, exc.reason) from None
        self.replayed = 0  # requests answered from the journal by this process
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 30000")
            self._conn.execute(_TABLE)
        except sqlite3.Error as exc:
            self.cache.close()
            raise _unusable(path, f"cannot be used ({exc})") from None

    def prompt_copies(self, n: int) -> int:
        return self.inner.prompt_copies(n)

    def generate(self, request: CompletionRequest) -> Generation:
        key = self._request_key(request)
        with self._lock:
            row = self._conn.execute("SELECT generation_json FROM run_generations WHERE key = ?", (key,)).fetchone()
        if row is not None:
            data = json.loads(row[0])
            with self._lock:
                self.replayed += 1
            if "refused" in data:
                raise LMRefused(str(data["refused"]), data.get("status"))
            return Generation(**data)
        try:
            generation = self.inner.generate(request)
        except LMRefused as refused:
            self._record(request, key, {"refused": str(refused), "status": refused.status}, None)
            raise
        self._record(request, key, dataclasses.asdict(generation), generation)
        return generation

    def samples(self) -> int:
        """Samples in the journal (what `--cache replay` can serve from it)."""
        return len(self.cache)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        self.cache.close()
        close = getattr(self.inner, "close", None)
        if self.owns_inner and callable(close):
            close()

    def _request_key(self, request: CompletionRequest) -> str:
        asked = dataclasses.asdict(request)
        if asked["max_tokens"] is None:  # the configured limit: keys as before requests could lower it
            del asked["max_tokens"]
        blob = json.dumps({"provider": self.inner.name, "model": self.inner.model, "params": self.params,
                           "request": asked}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _sample_key(self, request: CompletionRequest, sample: int) -> str:
        if isinstance(self.inner, CachedBackend):
            return self.inner.key(request, sample)
        return request_sample_key(self.inner, self.params, request, sample)

    def _record(self, request: CompletionRequest, key: str, data: dict[str, Any], fresh: Generation | None) -> None:
        for j in range(request.n):
            i = request.first_sample + j
            if fresh is None:
                marker = REFUSED if data.get("status") is None else f"{REFUSED}:{data['status']}"
                sample = CachedSample(str(data["refused"]), 0, 0, marker)
            else:
                reason = fresh.finish_reasons[j] if j < len(fresh.finish_reasons) else None
                sample = CachedSample(fresh.replies[j], _share(fresh.input_tokens, request.n, j),
                                      _share(fresh.output_tokens, request.n, j), reason)
            store_sample(self.cache, self.inner, self.params, request, i, self._sample_key(request, i), sample)
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO run_generations (key, generation_json) VALUES (?, ?)",
                               (key, json.dumps(data, ensure_ascii=False)))


def check_journal(path: Path) -> None:
    """Refuses (one line naming the file and what to do) a run's LM journal that exists but is not a readable
    SQLite database; reads it only, so a refused resume leaves the run directory as it was."""
    if not path.exists():
        return  # a run killed before its journal was made: the resumed run makes a new one
    if path.is_dir():
        raise _unusable(path, "is a directory, not an SQLite database")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise _unusable(path, f"cannot be opened ({exc})") from None
    try:
        conn.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.Error as exc:
        raise _unusable(path, f"is not a readable SQLite database ({exc})") from None
    finally:
        conn.close()


def _unusable(path: Path, reason: str) -> UserError:
    return UserError(f"{path}, the run's LM journal, {reason}: move it aside to resume without it (its LM calls are "
                     "then made again: a provider's new replies may change the result)")


def _share(total: int, parts: int, index: int) -> int:
    base, extra = divmod(total, parts)
    return base + (1 if index < extra else 0)
