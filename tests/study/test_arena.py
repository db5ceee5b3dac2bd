"""The arena: every improver on every task under the same budgets and run indices, ranked with intervals, every
pair tested and Holm-adjusted; a copy of an improver is one computation; its estimate counts what it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import selftaught
from selftaught.improver import seed_improver

TINY = {"downstream_runs": 2, "max_responses": 2, "utility_budget": 3, "lm_budget": 1, "lm": "mutate"}
DATA = Path(__file__).resolve().parents[1] / "data"
TASKS = ["parity_noise", "str_grid_dist"]


def arena(tmp_path: Path, name: str, improvers: list[str], tasks: list[str] | None = None) -> dict[str, Any]:
    result = selftaught.arena(improvers, tasks=tasks or TASKS[:1], out=tmp_path / f"{name}.json",
                              runs_dir=tmp_path, **TINY)
    data = result.to_dict()
    assert json.loads((tmp_path / f"{name}.json").read_text())["arena"] == data["arena"]
    return data


def test_every_improver_meets_every_task_and_every_pair_is_tested_once(tmp_path: Path) -> None:
    better = str(DATA / "better_improver.py")
    data = arena(tmp_path, "two", ["seed", better], TASKS)
    boards = data["arena"]["leaderboards"]
    assert list(boards) == TASKS
    for rows in boards.values():
        assert sorted(r["improver"] for r in rows) == sorted(["seed", better])
        assert [r["test"]["mean"] for r in rows] == sorted((r["test"]["mean"] for r in rows), reverse=True)
        assert all(r["test"]["low"] <= r["test"]["mean"] <= r["test"]["high"] for r in rows)
        assert all(r["downstream_runs"] == TINY["downstream_runs"] for r in rows)
    pairs = data["arena"]["pairs"]
    assert [(p["task"], p["a"], p["b"]) for p in pairs] == [(task, "seed", better) for task in TASKS]
    assert all(p["p_holm"] >= p["p_value"] for p in pairs) and not any(p["significant"] for p in pairs)
    assert any("no pair can be significant" in w for w in data["warnings"])  # 2 runs: p >= 0.5
    assert len(re.findall(r"^\| [12] \| seed \|", (tmp_path / "two.md").read_text(), re.M)) == len(TASKS)
    assert "<h2>Pairs</h2>" in (tmp_path / "two.html").read_text()


def test_a_copy_of_an_improver_is_measured_once_and_scores_alike(tmp_path: Path) -> None:
    copy = tmp_path / "copy.py"
    copy.write_text(seed_improver())
    both = arena(tmp_path, "both", ["seed", str(copy)])
    alone = arena(tmp_path, "alone", ["seed"])
    assert both["usage"]["calls"] == alone["usage"]["calls"] > 0
    rows = {r["improver"]: r for r in both["arena"]["leaderboards"]["parity_noise"]}
    assert rows["seed"]["test"] == rows[str(copy)]["test"] == alone["arena"]["leaderboards"]["parity_noise"][0]["test"]
    (pair,) = both["arena"]["pairs"]
    assert pair["difference"]["mean"] == 0 and pair["p_value"] == 1


def test_the_same_arena_gives_the_same_figures(tmp_path: Path) -> None:
    improvers = ["seed", str(DATA / "better_improver.py")]
    assert arena(tmp_path, "first", improvers)["arena"] == arena(tmp_path, "second", improvers)["arena"]


def test_the_estimate_of_the_seeds_arena_counts_the_calls_it_makes(tmp_path: Path) -> None:
    estimate = selftaught.estimate("arena", improvers=["seed"], tasks=TASKS, **TINY)
    calls = arena(tmp_path, "seed", ["seed"], TASKS)["usage"]["calls"]
    assert estimate.total.calls.low == estimate.total.calls.high == calls == TINY["downstream_runs"] * len(TASKS)


@pytest.mark.parametrize(("improvers", "message"), [
    (["seed", "seed"], "named twice"),
    (["seed", "no-such-file.py"], "no such improver file"),
    ([], "needs improvers"),
])
def test_bad_improvers_are_one_line(improvers: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(selftaught.UserError, match=message):
        selftaught.arena(improvers, out=tmp_path / "x.json", **TINY)
    assert not (tmp_path / "x.json").exists()
