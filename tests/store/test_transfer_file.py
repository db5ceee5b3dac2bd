"""The transfer results file: rows saved as they are finished, lent to a re-run only for the same key and task code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.stop.transfer import TransferRow, task_fingerprint
from selftaught.store._transfer import TransferFile, default_path, transfer_key
from selftaught.tasks import get_task


def row(task: str, score: float = 0.5) -> dict[str, Any]:
    return TransferRow(task, score, score, score, score, score, score, [0.1, 0.9], None, [0.2, 0.8]).record()


FIELDS = {"improver": "I_3.py", "counters": {}, "usage": {"calls": 3, "cost_usd": 0.5}}


def test_rows_are_saved_as_they_finish_and_lent_back_only_for_the_same_task_code(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "t.json"
    results = TransferFile(path, "k1")
    assert not path.exists()  # nothing finished, nothing written
    results.add("b", "fp-b", row("b"), FIELDS)
    assert json.loads(path.read_text())["rows"] == [row("b")]
    results.add("a", "fp-a", row("a", 0.25), FIELDS)
    results.close(FIELDS, ["a", "b", "c"], stopped="interrupted")
    saved = json.loads(path.read_text())
    assert [r["task"] for r in saved["rows"]] == ["a", "b"] and saved["complete"] is False
    assert saved["sessions"] == [{**saved["sessions"][0], "measured": ["b", "a"], "reused": [],
                                  "stopped": "interrupted", "usage": {"calls": 3, "cost_usd": 0.5}}]
    again = TransferFile(path, "k1")
    assert again.finished("a", "fp-a") == row("a", 0.25)
    assert again.finished("b", "another task file") is None and again.finished("c", "fp-c") is None
    again.reuse(["a"])
    again.add("c", "fp-c", row("c"), {**FIELDS, "usage": {"calls": 1, "cost_usd": 0.1}})
    again.close({**FIELDS, "usage": {"calls": 1, "cost_usd": 0.1}}, ["a", "b", "c"], stopped=None)
    final = json.loads(path.read_text())
    assert final["complete"] is True and [s["reused"] for s in final["sessions"]] == [[], ["a"]]
    with pytest.raises(UserError, match="holds the rows of another transfer"):
        TransferFile(path, "k2")


def test_a_transfer_that_finished_nothing_writes_nothing(tmp_path: Path) -> None:
    TransferFile(tmp_path / "t.json", "k").close(FIELDS, ["a"], stopped="interrupted")
    assert not (tmp_path / "t.json").exists()


def test_an_out_file_in_a_place_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"cannot create the directory of .*: give --out a file in a writable"):
        TransferFile(tmp_path / "file" / "t.json", "k")


def test_the_key_ignores_how_a_transfer_is_carried_out_but_not_what_it_measures(tmp_path: Path) -> None:
    base = Config().to_dict()
    key = transfer_key("improver", "seed", base, "secret")
    assert transfer_key("improver", "seed", {**base, "workers": 1, "max_usd": 2.0, "cache": "off"}, "secret") == key
    for changed in (transfer_key("other", "seed", base, "secret"), transfer_key("improver", "seed", base, "other"),
                    transfer_key("improver", "seed", {**base, "seed": 9}, "secret"),
                    transfer_key("improver", "seed", {**base, "downstream_runs": 1}, "secret")):
        assert changed != key
    replies = tmp_path / "replies.json"
    replies.write_text('["one"]')
    scripted = transfer_key("improver", "seed", {**base, "lm": f"scripted:{replies}"}, "secret")
    replies.write_text('["two"]')
    assert transfer_key("improver", "seed", {**base, "lm": f"scripted:{replies}"}, "secret") != scripted
    assert default_path("runs", "r/improvers/I_3.py", key) == Path("runs") / f"transfer-I_3-{key}.json"


def test_a_row_is_rebuilt_only_from_a_record_of_one() -> None:
    good = row("a")
    assert TransferRow.from_record(good) == TransferRow(**good)
    for bad in ({**good, "extra": 1}, {k: v for k, v in good.items() if k != "seed_utility"},
                {**good, "seed_utility": "0.5"}, {**good, "seed_utility": True}, {**good, "seed_utility_ci": [1]}):
        assert TransferRow.from_record(bad) is None


def test_the_task_fingerprint_follows_the_task_code(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[2] / "examples" / "mytask.py").read_text()
    path = tmp_path / "mytask.py"
    path.write_text(example)
    first = task_fingerprint(get_task(str(path)))
    assert task_fingerprint(get_task(str(path))) == first
    path.write_text(example.replace("    return float(sum(", "    return 0.5 * float(sum("))  # the scorer only
    assert task_fingerprint(get_task(str(path))) != first
    assert task_fingerprint(get_task("maxcut")) == task_fingerprint(get_task("maxcut")) != first
