"""`selftaught arena`: improvers by flag and by file, its JSON, its report (names stay text), one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from selftaught.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
TINY = ["--lm", "mutate", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "3", "--lm-budget",
        "1", "--task", "parity_noiseless"]


def test_improvers_by_flag_and_by_file_are_ranked_and_reported_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = tmp_path / "x|<img src=y>*_#.py"  # a name full of Markdown and HTML
    hostile.write_text((DATA / "better_improver.py").read_text())
    out = tmp_path / "arena.json"
    status = main(["arena", "--improvers", "seed", str(hostile), *TINY, "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    data = json.loads(captured.out)
    assert data["path"] == str(out) and json.loads(out.read_text())["arena"] == data["arena"]
    assert [i["name"] for i in data["improvers"]] == ["seed", str(hostile)]
    assert data["arena"]["tasks"] == ["parity_noiseless"] and len(data["arena"]["pairs"]) == 1
    markdown, html = (tmp_path / "arena.md").read_text(), (tmp_path / "arena.html").read_text()
    assert not re.search(r"(?<!\\)<img", markdown) and "x\\|\\<img src=y\\>\\*\\_\\#.py" in markdown
    assert "<img" not in html and "x|&lt;img src=y&gt;*_#.py" in html


@pytest.mark.parametrize(("argv", "message"), [
    (["arena", "seed", "--tasks", "no_such_task"], "unknown task 'no_such_task'"),
    (["arena", "seed", "missing.py"], "no such improver file or run directory: missing.py"),
    (["arena"], "an arena needs improvers"),
])
def test_mistakes_are_one_line_and_exit_2(argv: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--lm", "mutate"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
