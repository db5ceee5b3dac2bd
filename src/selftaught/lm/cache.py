"""A SQLite record/replay cache of language-model samples, keyed by everything that determines a reply."""

from __future__ import annotations

import hashlib
import json
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from selftaught.errors import UserError

#: off: never read or write the cache; record: read it, call the network on a miss and store the reply;
#: replay: read it only, and raise CacheMiss on a miss (never call the network).
CacheMode = Literal["off", "record", "replay"]
CACHE_MODES: tuple[CacheMode, ...] = ("off", "record", "replay")

#: Bumped if the key's canonical form ever changes, so old and new keys cannot collide.
KEY_VERSION = 1

#: Schema migrations, applied in order; migration i (1-based) brings the schema to version i.
#: Append new scripts, never edit released ones: old caches are upgraded by applying the missing tail.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE samples (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        finish_reason TEXT,
        created REAL NOT NULL,
        request_json TEXT NOT NULL
    );
    """,
]

_BUSY_TIMEOUT_S = 30.0
_MAX_VARS = 500  # keys per SELECT in get_many, below SQLite's host-parameter limit


@dataclass(frozen=True)
class CachedSample:
    """One recorded reply and its accounting."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None


class CacheMiss(UserError):
    """Replay mode found no recorded reply for a request (replay never calls the network)."""

    def __init__(self, *, provider: str, model: str, system: str, message: str, sample: int) -> None:
        self.provider, self.model, self.system, self.message, self.sample = provider, model, system, message, sample
        super().__init__(
            f"replay: no cached reply for {provider}:{model} sample {sample} of request "
            f'"{_snippet(message)}" (system "{_snippet(system)}"); replay mode never calls the network, '
            "record it first with --cache record"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuild_miss, (self.provider, self.model, self.system, self.message, self.sample)


def _rebuild_miss(provider: str, model: str, system: str, message: str, sample: int) -> CacheMiss:
    return CacheMiss(provider=provider, model=model, system=system, message=message, sample=sample)


def _snippet(text: str, limit: int = 60) -> str:
    """The first `limit` characters of `text` on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "..."


def default_cache_path() -> Path:
    """$XDG_CACHE_HOME/selftaught/lm-cache.sqlite, or ~/.cache/selftaught/lm-cache.sqlite."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "selftaught" / "lm-cache.sqlite"


def _canonical(value: object) -> object:
    """A JSON-ready copy of `value` in which equal inputs look equal (mapping order, -0.0, tuples)."""
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"cache key parameters must have str keys, got {k!r}")
            out[k] = _canonical(v)
        return out
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return value + 0.0  # -0.0 -> 0.0; NaN and infinities are refused by json.dumps below
    if value is None or isinstance(value, str | int):
        return value
    raise TypeError(f"cache key parameters must be JSON values, got {type(value).__name__}")


def _dumps(value: object) -> str:
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sample_key(
    *,
    provider: str,
    model: str,
    system: str,
    message: str,
    temperature: float,
    params: Mapping[str, object],
    seed: int,
    sample: int,
) -> str:
    """sha256 hex of a canonical JSON of everything that determines one sample's reply."""
    blob = _dumps({
        "v": KEY_VERSION,
        "provider": provider,
        "model": model,
        "system": system,
        "message": message,
        "temperature": float(temperature),
        "params": params,
        "seed": operator.index(seed),
        "sample": operator.index(sample),
    })
    return hashlib.sha256(blob.encode()).hexdigest()


def _statements(script: str) -> list[str]:
    """Splits a migration script into complete statements (run one by one inside a transaction)."""
    statements, buf = [], ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                statements.append(buf.strip())
            buf = ""
    return statements


class CacheUnusable(UserError):
    """The cache file cannot be used: it is a directory, not an SQLite database, or cannot be created or written.

    Attributes:
      path: the file; reason: what is wrong with it ("is a directory..."); fix: what the user can do.
    """

    def __init__(self, path: Path, reason: str, fix: str) -> None:
        self.path, self.reason, self.fix = path, reason, fix
        super().__init__(f"LM cache {path} {reason}: {fix}")

    def __reduce__(self) -> tuple[object, ...]:
        return CacheUnusable, (self.path, self.reason, self.fix)


#: What SQLite says of a file that is not a database (garbage, another format, a damaged header).
_NOT_A_DATABASE = ("not a database", "malformed", "encrypted")
#: What it says of a file it cannot open or write (a read-only file system, a directory it cannot write in).
_NOT_WRITABLE = ("unable to open", "readonly", "read-only", "disk i/o error")


def _fix(path: Path) -> str:
    if path == default_cache_path():
        return ("this is the default cache file: set XDG_CACHE_HOME to a writable directory, or pass "
                "--cache-path FILE (or --cache off)")
    return "give --cache-path a file in a writable directory (or --cache off)"


def _unusable(path: Path, exc: sqlite3.Error) -> CacheUnusable | None:
    """What is wrong with the file, when `exc` says it is the file (None: another error, e.g. a migration's bug)."""
    message = str(exc)
    if any(words in message.lower() for words in _NOT_A_DATABASE):
        return CacheUnusable(path, f"is not an SQLite database ({message})",
                             "move it aside, or give --cache-path another file (or --cache off)")
    if any(words in message.lower() for words in _NOT_WRITABLE):
        return CacheUnusable(path, f"cannot be opened for writing ({message})", _fix(path))
    return None


def _make_parent(path: Path) -> None:
    """Creates the cache file's directory; CacheUnusable when a file stands in the way or it cannot be made."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise CacheUnusable(path, f"cannot be created: {blocker} is a file, not a directory", _fix(path)) from None
        raise CacheUnusable(path, f"cannot be created: its directory cannot be made ({exc.strerror})",
                            _fix(path)) from None


class LMCache:
    """A thread- and process-safe store of samples: the first sample recorded for a key wins.

    Opening a file that cannot be a cache (a directory, not a database, in a directory that cannot be created or
    written) raises `CacheUnusable`, a one-line `UserError` naming the file and the fix.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if self.path.is_dir():
            raise CacheUnusable(self.path, "is a directory, not a cache file",
                                f"give --cache-path a file, e.g. {self.path / 'lm-cache.sqlite'}")
        _make_parent(self.path)
        try:
            # Autocommit: every write is one statement or an explicit BEGIN IMMEDIATE .. COMMIT.
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise (_unusable(self.path, exc) or exc) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            self._migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            unusable = _unusable(self.path, exc)
            if unusable is None:
                raise
            raise unusable from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Applies the migrations this file lacks, under a write lock so concurrent openers apply each once."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied REAL NOT NULL)"
            )
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            if current > len(MIGRATIONS):
                raise UserError(
                    f"LM cache {self.path} has schema version {current}, newer than this selftaught supports "
                    f"({len(MIGRATIONS)}); upgrade selftaught or use another cache file"
                )
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied) VALUES (?, ?)", (version, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"LM cache {self.path} is closed")
        return self._conn

    @property
    def schema_version(self) -> int:
        with self._lock:
            row = self._connection().execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return int(row[0])

    def get(self, key: str) -> CachedSample | None:
        with self._lock:
            row = self._connection().execute(
                "SELECT text, input_tokens, output_tokens, finish_reason FROM samples WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else CachedSample(*row)

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedSample]:
        """The recorded samples among `keys` (missing keys are absent from the result)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedSample] = {}
        with self._lock:
            conn = self._connection()
            for start in range(0, len(wanted), _MAX_VARS):
                chunk = wanted[start : start + _MAX_VARS]
                rows = conn.execute(
                    "SELECT key, text, input_tokens, output_tokens, finish_reason FROM samples "
                    f"WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                for key, *fields in rows:
                    found[key] = CachedSample(*fields)
        return found

    def put(
        self, key: str, sample: CachedSample, *, provider: str, model: str, request: Mapping[str, object]
    ) -> None:
        """Records `sample` under `key` unless one is already recorded (the first wins, so replays are stable)."""
        row = (
            key, provider, model, sample.text, sample.input_tokens, sample.output_tokens, sample.finish_reason,
            time.time(), _dumps(request),
        )
        with self._lock:
            self._connection().execute(
                "INSERT OR IGNORE INTO samples (key, provider, model, text, input_tokens, output_tokens, "
                "finish_reason, created, request_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def export(self, path: str | Path) -> Path:
        """Copies the whole cache, consistently, to one self-contained file at `path` (replacing its contents)."""
        dest_path = Path(path)
        if dest_path.exists() and dest_path.resolve() == self.path.resolve():
            raise ValueError(f"cannot export LM cache {self.path} onto itself")
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        dest = sqlite3.connect(dest_path, timeout=_BUSY_TIMEOUT_S)
        try:
            with self._lock:
                self._connection().backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")  # no -wal side file to forget when shipping it
        finally:
            dest.close()
        return dest_path

    def export_keys(self, path: str | Path, keys: Iterable[str]) -> int:
        """Copies just the samples under `keys` into a cache file at `path` (created if needed).

        This is how a run ships the replies it used: `--cache replay --cache-path <that file>`
        re-runs it offline. Returns the number of samples in the file.
        """
        dest = LMCache(path)
        try:
            wanted = sorted(set(keys))
            with self._lock:
                conn = self._connection()
                rows = []
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows += conn.execute(f"SELECT * FROM samples WHERE key IN ({marks})", chunk).fetchall()
            with dest._lock:
                out = dest._connection()
                if rows:
                    marks = ",".join("?" * len(rows[0]))
                    out.executemany(f"INSERT OR IGNORE INTO samples VALUES ({marks})", rows)
            return len(dest)
        finally:
            dest.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> LMCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
