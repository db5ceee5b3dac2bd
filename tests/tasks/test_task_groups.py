"""Task groups: `paper` and `benchmarks` name the built-in tasks, and stand for them wherever tasks are listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import selftaught
from selftaught.cli import main
from selftaught.config import build_config
from selftaught.tasks import builtin_tasks
from selftaught.tasks._groups import BENCHMARKS, GROUPS, PAPER, expand_groups


def test_every_built_in_task_is_in_exactly_one_group_and_every_member_exists() -> None:
    members = [name for names in GROUPS.values() for name in names]
    assert sorted(members) == sorted(builtin_tasks()) and len(set(members)) == len(members)
    assert PAPER[0] == "parity_noise" and len(PAPER) == 6


def test_a_group_expands_in_place_each_task_once() -> None:
    assert expand_groups(["maxcut", "paper"]) == ("maxcut", *[n for n in PAPER if n != "maxcut"])
    assert expand_groups(["Benchmarks", "tsp", "three_sat"]) == (*BENCHMARKS, "three_sat")
    assert build_config({"transfer_tasks": "benchmarks"}).transfer_tasks == BENCHMARKS


def test_the_listing_groups_the_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["groups"] == {g: list(n) for g, n in GROUPS.items()}
    assert {row["name"]: row["group"] for row in data["tasks"]} == {n: g for g, ns in GROUPS.items() for n in ns}
    assert main(["tasks"]) == 0
    text = capsys.readouterr().out
    assert text.index("paper (") < text.index("parity_noise") < text.index("benchmarks (") < text.index("tsp")


def test_transfer_and_the_arena_take_a_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    improver = Path(__file__).resolve().parents[1] / "data" / "better_improver.py"
    assert main(["transfer", str(improver), "--tasks", "benchmarks", "--lm", "mutate", "--estimate", "--json"]) == 0
    parts = json.loads(capsys.readouterr().out)["parts"]
    assert all(name in parts[0]["name"] for name in BENCHMARKS)
    estimate = selftaught.estimate("arena", improvers=["seed"], tasks=["paper"], lm="mutate")
    assert all(name in estimate.to_dict()["parts"][0]["name"] for name in PAPER)
