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
