"""A population of improvers (`run --population N --parent best|descendants`): each step improves the kept improver
its rule picks, the archive never holds more than N, the summary names the archive and the final improver, and an
archive of one is linear STOP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import selftaught
from selftaught.stop.archive import Archive, clade_mean

TINY = {"task": "parity_noise", "lm": "mutate", "iterations": 5, "downstream_runs": 2, "max_responses": 2,
        "utility_budget": 3, "lm_budget": 1, "meta_utility_budget": 3, "seed": 5}


class Step:
    def __init__(self, record: dict[str, Any]) -> None:
        self.index, self.parent = record["iteration"], record["parent"]
        self.meta_utility_val, self.kept_previous = record["meta_utility_val"], record["kept_previous"]


def run(tmp_path: Path, name: str, **flags: Any) -> dict[str, Any]:
    result = selftaught.run(runs_dir=tmp_path / name, **{**TINY, **flags})
    assert isinstance(result, selftaught.RunResult) and result.summary["complete"]
    return result.summary


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run(tmp_path_factory.mktemp("population"), "three", population=3)


def test_each_step_improves_the_best_kept_improver_and_at_most_n_are_kept(population: dict[str, Any]) -> None:
    records = population["iterations"]
    history = [Step(records[0])]
    archive = Archive(3, "best", [0])
    for record in records[1:]:
        kept = archive.members  # what the step chose from: the best fresh val meta-utility among them
        assert record["parent"] in kept
        assert records[record["parent"]]["meta_utility_val"] == max(records[i]["meta_utility_val"] for i in kept)
        history.append(Step(record))
        if not record["kept_previous"]:
            archive.add(record["iteration"], history)
        assert len(archive.members) <= 3
    assert population["population"]["members"] == sorted(archive.members)
    final = population["population"]["final"]
    assert records[final]["meta_utility_val"] == max(records[i]["meta_utility_val"] for i in archive.members)
    assert len({r["parent"] for r in records[1:]}) > 1  # it did branch: not the chain


def test_descendants_improves_the_clade_that_measured_best(tmp_path: Path) -> None:
    records = run(tmp_path, "hgm", population=3, parent="descendants")["iterations"]
    history = [Step(records[0])]
    archive = Archive(3, "descendants", [0])
    for record in records[1:]:
        means = {i: clade_mean(i, history) for i in archive.members}
        assert means[record["parent"]] == max(means.values())
        history.append(Step(record))
        if not record["kept_previous"]:
            archive.add(record["iteration"], history)


def test_an_archive_of_one_is_the_papers_chain_whatever_the_parent_rule(tmp_path: Path) -> None:
    chain = run(tmp_path, "default", iterations=3)
    same = run(tmp_path, "one", iterations=3, population=1, parent="descendants")  # the rule has nothing to pick
    assert same["iterations"] == chain["iterations"] and same["safety"] == chain["safety"]
    assert "population" not in same
    records = chain["iterations"]
    for record in records[1:]:  # each step improved the latest improver adopted before it
        adopted = [r["iteration"] for r in records[: record["iteration"]] if not r["kept_previous"]]
        assert record["parent"] == adopted[-1]


def test_a_resumed_run_keeps_its_population(tmp_path: Path) -> None:
    capped = selftaught.run(runs_dir=tmp_path, **{**TINY, "iterations": 2, "population": 2, "max_calls": 2})
    assert isinstance(capped, selftaught.RunResult) and capped.summary["status"] == "capped"
    with pytest.raises(selftaught.UserError, match="population"):
        selftaught.run(resume=capped.run_dir, population=3)


def test_a_population_run_stopped_at_a_cap_and_resumed_finds_what_an_uninterrupted_one_does(tmp_path: Path) -> None:
    flags = {**TINY, "iterations": 3, "population": 3}
    whole = run(tmp_path, "whole", **flags)
    capped = selftaught.run(runs_dir=tmp_path / "capped", **flags, max_calls=whole["usage"]["calls"] // 2)
    assert isinstance(capped, selftaught.RunResult) and capped.summary["status"] == "capped"
    resumed = selftaught.run(resume=capped.run_dir, max_calls=10 * whole["usage"]["calls"])
    assert isinstance(resumed, selftaught.RunResult) and resumed.summary["complete"]
    assert resumed.summary["iterations"] == whole["iterations"]
    assert resumed.summary["population"] == whole["population"]
