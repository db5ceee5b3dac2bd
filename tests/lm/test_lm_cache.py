"""The record/replay cache of LM samples: keys, first write wins, migrations, export, concurrency, CacheMiss."""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import runpy
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from selftaught.errors import UserError
from selftaught.lm import cache as cache_mod
from selftaught.lm.cache import CachedSample, CacheMiss, CacheUnusable, LMCache, default_cache_path, sample_key

BASE: dict[str, Any] = {
    "provider": "openai",
    "model": "gpt-4o",
    "system": "You are an expert computer science researcher.",
    "message": "Improve the following solution.",
    "temperature": 0.7,
    "params": {"max_tokens": 1024, "top_p": 1.0},
    "seed": 42,
    "sample": 0,
}


def key(**changes: Any) -> str:
    return sample_key(**{**BASE, **changes})


def sample(text: str = "reply", finish: str | None = "stop") -> CachedSample:
    return CachedSample(text=text, input_tokens=11, output_tokens=7, finish_reason=finish)


def put(cache: LMCache, k: str, s: CachedSample) -> None:
    cache.put(k, s, provider="openai", model="gpt-4o", request={"message": "m", "sample": 0})


def all_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM samples ORDER BY key").fetchall()
    finally:
        conn.close()


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    """A connection nobody closed is only closed when the cycle collector runs: keep it from hiding a leak."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def open_handles(path: Path) -> int:
    """How many of this process's file descriptors are open on `path` (Linux)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with suppress(OSError):  # closed since the listing
            count += os.readlink(fd) == str(path)
    return count


# ---- keys ---------------------------------------------------------------------------------------


def test_equal_inputs_give_equal_keys_whatever_the_params_order() -> None:
    k = key()
    assert len(k) == 64 and int(k, 16) >= 0
    assert key() == k
    assert key(params={"top_p": 1.0, "max_tokens": 1024}) == k
    assert key(temperature=0.7000000000000001) != k  # floats are compared exactly, not rounded
    assert key(temperature=1) == key(temperature=1.0)


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "anthropic"},
        {"model": "gpt-4o-mini"},
        {"system": "You are a helpful assistant."},
        {"message": "Improve the following solution!"},
        {"temperature": 0.8},
        {"params": {"max_tokens": 512, "top_p": 1.0}},
        {"params": {"max_tokens": 1024, "top_p": 1.0, "stop": ["\n"]}},
        {"params": {"max_tokens": 1024}},
        {"seed": 43},
        {"sample": 1},
    ],
    ids=lambda c: next(iter(c)) + ("=" + str(next(iter(c.values()))) if next(iter(c)) == "params" else ""),
)
def test_changing_any_one_input_changes_the_key(change: dict[str, Any]) -> None:
    assert key(**change) != key()


def test_fields_cannot_bleed_into_each_other() -> None:
    # A naive concatenation would map both to "ab" + "c".
    assert key(system="ab", message="c") != key(system="a", message="bc")


def test_list_params_key_by_their_contents_and_a_tuple_keys_like_the_equal_list() -> None:
    stop = {"max_tokens": 1024, "stop": ["\n", "```"]}
    assert key(params={**stop, "stop": ["\n"]}) != key(params=stop)
    assert key(params={**stop, "stop": ["```", "\n"]}) != key(params=stop)  # the order of a list matters
    assert key(params={**stop, "stop": ("\n", "```")}) == key(params=stop)


def test_a_null_param_is_a_key_value_of_its_own() -> None:
    params = BASE["params"]
    with_null = key(params={**params, "stop": None})
    assert with_null == key(params={"stop": None, **params})
    assert with_null not in (key(), key(params={**params, "stop": ""}), key(params={**params, "stop": 0}))


def test_negative_zero_keys_like_zero() -> None:
    assert key(temperature=-0.0) == key(temperature=0.0) == key(temperature=0)
    assert key(params={"top_p": -0.0}) == key(params={"top_p": 0.0})


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": object()}, {1: 2}])
def test_params_that_have_no_canonical_json_are_refused(bad: dict[Any, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        key(params=bad)


# ---- storage --------------------------------------------------------------------------------------


def test_put_then_get_round_trips_and_missing_keys_are_none(tmp_path: Path) -> None:
    with LMCache(tmp_path / "deep" / "dir" / "c.sqlite") as cache:
        assert cache.get("nope") is None
        put(cache, "k1", sample("hello\nworld", "length"))
        put(cache, "k2", sample("no reason", None))
        assert cache.get("k1") == CachedSample("hello\nworld", 11, 7, "length")
        assert cache.get("k2") == CachedSample("no reason", 11, 7, None)
        assert len(cache) == 2


def test_get_many_returns_only_recorded_keys_even_beyond_sqlite_parameter_limits(tmp_path: Path) -> None:
    with LMCache(tmp_path / "c.sqlite") as cache:
        for i in range(0, 1200, 2):
            put(cache, f"k{i}", sample(f"text {i}"))
        found = cache.get_many(f"k{i}" for i in range(1200))
        assert set(found) == {f"k{i}" for i in range(0, 1200, 2)}
        assert found["k1198"].text == "text 1198"
        assert cache.get_many([]) == {}


def test_a_writer_waits_for_a_lock_another_run_holds_up_to_thirty_seconds(tmp_path: Path) -> None:
    """Runs sharing one cache file take turns: a write blocked by another process's transaction waits
    (here 0.3 s) instead of failing with "database is locked", and gives up only after 30 s."""
    path = tmp_path / "c.sqlite"
    with LMCache(path) as cache:
        assert cache._connection().execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        release.start()
        try:
            put(cache, "k", sample("written once the other run let go"))
        finally:
            release.join()
            other.close()
        assert cache.get("k") == CachedSample("written once the other run let go", 11, 7, "stop")


def test_the_first_recorded_sample_wins(tmp_path: Path) -> None:
    with LMCache(tmp_path / "c.sqlite") as cache:
        put(cache, "k", sample("first"))
        put(cache, "k", sample("second"))
        assert cache.get("k") == sample("first")
        assert len(cache) == 1


def test_the_request_is_stored_as_canonical_json(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with LMCache(path) as cache:
        cache.put("k", sample(), provider="p", model="m", request={"b": 1, "a": [0.5, "é"]})
    (row,) = all_rows(path)
    assert row[1:3] == ("p", "m")
    assert row[-1] == '{"a":[0.5,"é"],"b":1}'


def test_samples_persist_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with LMCache(path) as cache:
        put(cache, "k", sample("kept"))
    with LMCache(path) as cache:
        assert cache.get("k") == sample("kept")
        assert len(cache) == 1


def test_leaving_the_with_block_closes_the_cache(tmp_path: Path) -> None:
    with LMCache(tmp_path / "c.sqlite") as cache:
        put(cache, "k", sample())
    with pytest.raises(ValueError, match="closed"):
        cache.get("k")


def test_closing_leaves_one_self_contained_file(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with no_garbage_collection():
        cache = LMCache(path)
        put(cache, "k", sample("kept"))
        cache.close()
        assert [p.name for p in tmp_path.iterdir()] == ["c.sqlite"]  # the write-ahead log is folded in
    moved = tmp_path / "moved" / "c.sqlite"
    moved.parent.mkdir()
    path.rename(moved)
    with LMCache(moved) as cache:
        assert cache.get("k") == sample("kept")


def test_a_closed_cache_refuses_use_and_close_is_idempotent(tmp_path: Path) -> None:
    cache = LMCache(tmp_path / "c.sqlite")
    cache.close()
    cache.close()
    with pytest.raises(ValueError, match="closed"):
        cache.get("k")


# ---- migrations ---------------------------------------------------------------------------------


def schema_rows(path: Path) -> list[tuple[int, float]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT version, applied FROM schema_version ORDER BY version").fetchall()
    finally:
        conn.close()


def test_migrations_are_recorded_and_not_reapplied_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with LMCache(path) as cache:
        assert cache.schema_version == len(cache_mod.MIGRATIONS) >= 1
        put(cache, "k", sample())
    first = schema_rows(path)
    assert [v for v, _ in first] == list(range(1, len(cache_mod.MIGRATIONS) + 1))
    with LMCache(path) as cache:  # re-running CREATE TABLE samples would raise here
        assert cache.schema_version == len(cache_mod.MIGRATIONS)
        assert cache.get("k") == sample()
    assert schema_rows(path) == first


def test_an_old_cache_is_upgraded_by_the_missing_migrations_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.sqlite"
    with LMCache(path) as cache:
        put(cache, "k", sample("old"))
    n = len(cache_mod.MIGRATIONS)
    monkeypatch.setattr(
        cache_mod,
        "MIGRATIONS",
        [*cache_mod.MIGRATIONS, "ALTER TABLE samples ADD COLUMN note TEXT; CREATE INDEX by_model ON samples(model);"],
    )
    with LMCache(path) as cache:
        assert cache.schema_version == n + 1
        assert cache.get("k") == sample("old")
    conn = sqlite3.connect(path)
    try:
        assert "note" in [c[1] for c in conn.execute("PRAGMA table_info(samples)")]
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'by_model'").fetchone() is not None
    finally:
        conn.close()
    assert [v for v, _ in schema_rows(path)] == list(range(1, n + 2))


def test_a_failing_migration_is_reported_and_leaves_the_cache_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.sqlite"
    with LMCache(path) as cache:
        put(cache, "k", sample("old"))
    before = schema_rows(path)
    broken = "ALTER TABLE samples ADD COLUMN note TEXT; SELECT missing FROM nowhere;"
    monkeypatch.setattr(cache_mod, "MIGRATIONS", [*cache_mod.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
        LMCache(path)
    monkeypatch.undo()
    assert schema_rows(path) == before
    with LMCache(path) as cache:
        assert cache.get("k") == sample("old")
    conn = sqlite3.connect(path)
    try:
        assert "note" not in [c[1] for c in conn.execute("PRAGMA table_info(samples)")]  # not half applied
    finally:
        conn.close()


def test_a_migration_error_after_sqlite_ended_the_transaction_is_reported_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite may roll a transaction back by itself (an I/O error, a full disk); the error must not then be
    # replaced by a failed ROLLBACK's "no transaction is active". A migration that ends it stands in for that.
    path = tmp_path / "c.sqlite"
    LMCache(path).close()
    monkeypatch.setattr(cache_mod, "MIGRATIONS", [*cache_mod.MIGRATIONS, "ROLLBACK; SELECT missing FROM nowhere;"])
    with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
        LMCache(path)


def test_a_cache_from_a_newer_selftaught_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.sqlite"
    LMCache(path).close()
    monkeypatch.setattr(cache_mod, "MIGRATIONS", [])
    with pytest.raises(UserError, match="newer than this selftaught supports"):
        LMCache(path)


def test_a_cache_that_cannot_be_opened_lets_go_of_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.sqlite"
    LMCache(path).close()
    monkeypatch.setattr(cache_mod, "MIGRATIONS", [])
    with pytest.raises(UserError) as info:
        LMCache(path)
    assert info.value.__traceback__ is not None  # the failed opener is still referenced from here...
    assert [p.name for p in tmp_path.iterdir()] == ["c.sqlite"]  # ...but no open connection keeps a -wal file


def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    LMCache(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# ---- export -------------------------------------------------------------------------------------


def test_export_writes_a_self_contained_readable_copy_with_the_same_rows(tmp_path: Path) -> None:
    src = tmp_path / "c.sqlite"
    dest = tmp_path / "ship" / "run-cache.sqlite"
    with LMCache(src) as cache:
        for i in range(30):
            put(cache, f"k{i}", sample(f"text {i}", None if i % 3 else "stop"))
        assert cache.export(dest) == dest
        put(cache, "later", sample())  # not in the copy
        rows = all_rows(src)
    copied = all_rows(dest)
    assert len(copied) == 30 and copied == [r for r in rows if r[0] != "later"]
    assert not Path(str(dest) + "-wal").exists()
    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    with LMCache(dest) as copy:
        assert copy.get("k4") == sample("text 4", None)
        assert copy.schema_version == len(cache_mod.MIGRATIONS)


def test_export_replaces_the_contents_of_an_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / "old.sqlite"
    with LMCache(dest) as old:
        put(old, "stale", sample("stale"))
    with LMCache(tmp_path / "c.sqlite") as cache:
        put(cache, "k", sample("fresh"))
        assert cache.export(dest) == dest
    with LMCache(dest) as copy:
        assert len(copy) == 1 and copy.get("k") == sample("fresh") and copy.get("stale") is None


def test_export_leaves_no_handle_open_on_the_copy(tmp_path: Path) -> None:
    dest = tmp_path / "copy.sqlite"
    with no_garbage_collection(), LMCache(tmp_path / "c.sqlite") as cache:
        put(cache, "k", sample())
        cache.export(dest)
        assert open_handles(dest) == 0


def test_export_onto_the_cache_itself_is_refused(tmp_path: Path) -> None:
    with LMCache(tmp_path / "c.sqlite") as cache:
        put(cache, "k", sample())
        with pytest.raises(ValueError, match="onto itself"):
            cache.export(tmp_path / "." / "c.sqlite")
        assert len(cache) == 1


# ---- concurrency ----------------------------------------------------------------------------------

# Run in a spawned process via runpy, so the child needs nothing from this test module.
PROCESS_WORKER = """
from selftaught.lm.cache import CachedSample, LMCache

cache = LMCache(PATH)
BARRIER.wait(timeout=60)
for i in range(COUNT):
    for key in (f"proc{WORKER}-{i}", f"shared-{i}"):
        cache.put(key, CachedSample(f"{key} by proc{WORKER}", 1, 2, "stop"), provider="p", model="m",
                  request={"worker": WORKER, "i": i})
        assert cache.get(key) is not None
cache.close()
"""


def test_threads_and_processes_writing_concurrently_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"  # created by whichever opener comes first
    script = tmp_path / "worker.py"
    script.write_text(PROCESS_WORKER)
    threads_n, per_thread, procs_n, per_proc = 8, 50, 2, 100
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs_n + 1)
    procs = [
        ctx.Process(
            target=runpy.run_path,
            args=(str(script),),
            kwargs={"init_globals": {"PATH": str(path), "BARRIER": barrier, "WORKER": w, "COUNT": per_proc}},
        )
        for w in range(procs_n)
    ]
    for p in procs:
        p.start()
    errors: list[BaseException] = []
    try:
        with LMCache(path) as cache:
            barrier.wait(timeout=60)  # the processes have opened the file and start writing now

            def write(t: int) -> None:
                try:
                    for i in range(per_thread):
                        put(cache, f"thread{t}-{i}", sample(f"t{t} s{i}"))
                        put(cache, f"shared-{i}", sample(f"shared by thread{t}"))
                        assert cache.get(f"thread{t}-{i}") == sample(f"t{t} s{i}")
                except BaseException as e:  # reported below
                    errors.append(e)

            threads = [threading.Thread(target=write, args=(t,)) for t in range(threads_n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        for p in procs:
            p.join(timeout=120)
    assert errors == []
    assert [p.exitcode for p in procs] == [0] * procs_n
    with LMCache(path) as cache:
        shared = max(per_thread, per_proc)
        assert len(cache) == threads_n * per_thread + procs_n * per_proc + shared
        found = cache.get_many(
            [f"thread{t}-{i}" for t in range(threads_n) for i in range(per_thread)]
            + [f"proc{w}-{i}" for w in range(procs_n) for i in range(per_proc)]
        )
        assert len(found) == threads_n * per_thread + procs_n * per_proc
        assert found["proc1-99"].text == "proc1-99 by proc1"
        assert cache.schema_version == len(cache_mod.MIGRATIONS)
    assert [v for v, _ in schema_rows(path)] == list(range(1, len(cache_mod.MIGRATIONS) + 1))


# ---- misses and paths ---------------------------------------------------------------------------


def test_cache_miss_is_a_one_line_user_error_naming_the_request() -> None:
    system = "You are an expert computer science researcher and programmer.\nYou write concise code."
    message = "Improve the following solution:\n```python\ndef algorithm(x):\n    return x\n```\n" * 3
    miss = CacheMiss(provider="openai", model="gpt-4o", system=system, message=message, sample=3)
    text = str(miss)
    assert isinstance(miss, UserError)
    assert "\n" not in text
    assert "openai:gpt-4o" in text and "sample 3" in text
    assert '"Improve the following solution: ```python def algorithm(x):..."' in text
    assert '(system "You are an expert computer science researcher and programmer...")' in text
    assert "never calls the network" in text and "--cache record" in text
    assert len(text) < 300
    again = pickle.loads(pickle.dumps(miss))
    assert isinstance(again, CacheMiss) and str(again) == text and again.sample == 3


def test_short_requests_are_quoted_whole() -> None:
    text = str(CacheMiss(provider="anthropic", model="claude", system="Be brief.", message="Hi", sample=0))
    assert '"Hi" (system "Be brief.")' in text and "..." not in text


def test_default_cache_path_follows_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "selftaught" / "lm-cache.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "selftaught" / "lm-cache.sqlite"


def test_the_key_of_a_sample_is_pinned_so_recorded_caches_stay_valid() -> None:
    # Every recorded cache (a shipped run's lm-cache.sqlite included) is looked up by these keys: a change of the
    # key's format (or of KEY_VERSION) orphans them all, so it must be deliberate: update this value with a note.
    assert key() == "195aa98baf0683b48b320bb184429711d1afd5737db682e7b2a65954475dde79"


def test_export_keys_ships_exactly_the_samples_asked_for(tmp_path: Path) -> None:
    with LMCache(tmp_path / "all.sqlite") as cache:
        keys = [key(sample=i) for i in range(5)]
        for i, k in enumerate(keys):
            put(cache, k, sample(f"reply {i}"))
        assert cache.export_keys(tmp_path / "shipped.sqlite", [keys[1], keys[3], keys[3], key(sample=99)]) == 2
    with LMCache(tmp_path / "shipped.sqlite") as shipped:
        assert len(shipped) == 2
        assert shipped.get(keys[1]) == sample("reply 1") and shipped.get(keys[3]) == sample("reply 3")
        assert shipped.get(keys[0]) is None  # what was not asked for stays behind
        with LMCache(tmp_path / "all.sqlite") as source:
            assert shipped.schema_version == source.schema_version


def record_many(path: Path, keys: list[str]) -> None:
    """Records a sample "reply i" under each keys[i] in one transaction (put commits each, too slow for many)."""
    LMCache(path).close()
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO samples VALUES (?, 'openai', 'gpt-4o', ?, 11, 7, 'stop', 0.0, '{}')",
                [(k, f"reply {i}") for i, k in enumerate(keys)],
            )
    finally:
        conn.close()


def test_export_keys_ships_one_sample_none_or_more_than_one_query_holds(tmp_path: Path) -> None:
    keys = [key(sample=i) for i in range(501)]  # one more than a query takes (each shipped row is a commit)
    record_many(tmp_path / "all.sqlite", keys)
    with LMCache(tmp_path / "all.sqlite") as cache:
        assert len(cache) == 501
        assert cache.export_keys(tmp_path / "one.sqlite", [keys[7]]) == 1
        assert cache.export_keys(tmp_path / "none.sqlite", [key(sample=5000)]) == 0
        assert cache.export_keys(tmp_path / "many.sqlite", keys) == 501
        rows = all_rows(tmp_path / "all.sqlite")
    with LMCache(tmp_path / "one.sqlite") as one:
        assert len(one) == 1 and one.get(keys[7]) == sample("reply 7")
    with LMCache(tmp_path / "none.sqlite") as none:
        assert len(none) == 0 and none.schema_version == len(cache_mod.MIGRATIONS)
    assert all_rows(tmp_path / "many.sqlite") == rows  # every row whole, the recording time included


def test_export_keys_leaves_one_self_contained_file(tmp_path: Path) -> None:
    shipped = tmp_path / "ship" / "run.sqlite"
    with no_garbage_collection():
        with LMCache(tmp_path / "all.sqlite") as cache:
            put(cache, "k", sample("used"))
            assert cache.export_keys(shipped, ["k"]) == 1
        assert [p.name for p in shipped.parent.iterdir()] == ["run.sqlite"]  # no -wal holding the rows
    moved = tmp_path / "moved.sqlite"
    shipped.rename(moved)
    with LMCache(moved) as cache:
        assert cache.get("k") == sample("used")


def test_a_directory_is_refused_as_a_cache_file_naming_a_file_to_use(tmp_path: Path) -> None:
    with pytest.raises(CacheUnusable) as refused:
        LMCache(tmp_path)
    assert str(refused.value) == (f"LM cache {tmp_path} is a directory, not a cache file: give --cache-path a file, "
                                  f"e.g. {tmp_path / 'lm-cache.sqlite'}")
    again = pickle.loads(pickle.dumps(refused.value))
    assert isinstance(again, CacheUnusable) and str(again) == str(refused.value)


@pytest.mark.parametrize("garbage", [b"not a database at all\n" * 10, bytes(range(256)) * 20],
                         ids=["text", "binary"])
def test_a_file_that_is_not_a_database_is_refused_and_left_as_it_was(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(garbage)
    with pytest.raises(CacheUnusable, match=r"is not an SQLite database .*: move it aside, or give --cache-path "
                                            r"another file"):
        LMCache(path)
    assert path.read_bytes() == garbage


def test_a_cache_whose_directory_cannot_be_made_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    for path in (tmp_path / "a-file" / "cache.sqlite", tmp_path / "a-file" / "deeper" / "cache.sqlite"):
        with pytest.raises(CacheUnusable) as refused:
            LMCache(path)
        assert str(refused.value) == (f"LM cache {path} cannot be created: {tmp_path / 'a-file'} is a file, not a "
                                      "directory: give --cache-path a file in a writable directory (or --cache off)")


def test_an_unusable_default_cache_directory_points_at_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-dir"))
    with pytest.raises(CacheUnusable, match="this is the default cache file: set XDG_CACHE_HOME to a writable "
                                            "directory, or pass --cache-path FILE"):
        LMCache(default_cache_path())
