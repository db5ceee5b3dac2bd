"""The run directory: programs stored once, events flushed as they happen, atomic JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftaught.errors import UserError
from selftaught.store import RunStore, program_hash, read_events


def test_programs_are_stored_once_by_hash(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "r")
    a = store.save_program("x = 1\n")
    assert store.save_program("x = 1\n") == a == program_hash("x = 1\n")
    assert store.save_program(None) is None
    assert [p.name for p in (tmp_path / "r" / "programs").iterdir()] == [f"{a}.py"]


def test_events_are_readable_before_the_store_is_closed(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "r")
    store.event("lm_call", replies=["a"])
    store.event("utility_call", score=0.5)
    assert [e["kind"] for e in read_events(tmp_path / "r")] == ["lm_call", "utility_call"]
    store.write_json("summary.json", {"ok": True})
    assert json.loads((tmp_path / "r" / "summary.json").read_text()) == {"ok": True}


def test_an_existing_run_directory_is_never_overwritten(tmp_path: Path) -> None:
    RunStore(tmp_path / "r")
    with pytest.raises(UserError, match="already exists"):
        RunStore(tmp_path / "r")
    first = RunStore.create(tmp_path, "lpn")
    second = RunStore.create(tmp_path, "lpn")
    assert first.root != second.root


def test_binary_garbage_in_the_journals_is_skipped_counted_and_left_in_place(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "r")
    store.event("lm_call", replies=["a"])
    store.evaluations.put(("t", "val", "p1"), {"score": 0.5})
    store.close()
    garbage = b"\xaf\xfe\x00junk\n\x81{\"kind\n" + bytes(range(128, 256))  # invalid UTF-8, two newlines, a torn tail
    for name in ("events.jsonl", "evaluations.jsonl"):
        with open(tmp_path / "r" / name, "ab") as f:
            f.write(garbage)
    resumed = RunStore(tmp_path / "r", resume=True)
    assert resumed.skipped == {"events.jsonl": 2, "evaluations.jsonl": 2}
    assert resumed.evaluations.get(("t", "val", "p1")) == {"score": 0.5}
    resumed.evaluations.put(("t", "val", "p2"), {"score": 0.25})
    resumed.event("lm_call", replies=["a"])  # recorded already: not written again
    resumed.event("lm_call", replies=["b"])
    resumed.close()
    assert [e.get("replies") for e in read_events(tmp_path / "r")] == [["a"], ["b"]]
    again = RunStore(tmp_path / "r", resume=True)
    assert again.evaluations.get(("t", "val", "p2")) == {"score": 0.25} and again.evaluations.loaded == 2
    again.close()


def test_a_run_directory_discarded_before_its_manifest_leaves_nothing(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path, "lpn")
    store.event("lm_call")
    store.discard()
    assert list(tmp_path.iterdir()) == []
    kept = RunStore.create(tmp_path, "lpn")
    kept.write_json("manifest.json", {"format_version": 2})
    kept.discard()  # it has a manifest: it is a run, never removed
    assert (kept.root / "manifest.json").is_file()


def test_a_closed_or_frozen_store_writes_no_more_programs(tmp_path: Path) -> None:
    """Threads a run leaves behind (downstream runs still unwinding after a cap) must not change its directory."""
    store = RunStore(tmp_path / "r")
    store.freeze()
    assert store.save_program("x = 1\n") == program_hash("x = 1\n")
    store.close()
    assert store.save_program("y = 2\n") == program_hash("y = 2\n")
    assert list((tmp_path / "r" / "programs").iterdir()) == []
