"""`selftaught improvers` lists the library; a library name is accepted wherever an improver file is, a file of
that name wins, and an unknown name is one line that lists the names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import selftaught
from selftaught.api._refs import resolve
from selftaught.api._setup import read_improver
from selftaught.cli import main
from selftaught.errors import UserError
from selftaught.improver import improver_names, improver_program, seed_improver


def test_improvers_json_lists_every_name_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["improvers", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["improvers"]
    assert [r["name"] for r in rows] == list(improver_names())
    assert all(r["summary"] and "\n" not in r["summary"] for r in rows)
    assert [i.to_dict() for i in selftaught.improvers()] == rows


def test_the_text_listing_names_each_improver(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["improvers"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{name} " in out for name in improver_names())


def test_a_library_name_resolves_to_its_program_and_a_file_of_that_name_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert read_improver("seed") == seed_improver()
    assert resolve("ucb").program == improver_program("ucb") and resolve("ucb").path is None
    mine = "def improve_algorithm(initial_solution, utility, language_model):\n    return initial_solution\n"
    (tmp_path / "ucb").write_text(mine)
    assert read_improver("ucb") == mine
    assert resolve("ucb").program == mine


@pytest.mark.parametrize("argv", [["improve", "lpn", "--improver", "beam_serch"], ["compare", "beam_serch", "seed"],
                                  ["transfer", "beam_serch"]])
def test_an_unknown_name_is_one_line_listing_the_library(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "beam_serch" in err
    assert all(name in err for name in improver_names())


def test_the_python_api_refuses_an_unknown_name_as_a_user_error() -> None:
    with pytest.raises(UserError, match="no library improver is called that"):
        selftaught.improve("lpn", improver="no_such_strategy", lm="mutate")
