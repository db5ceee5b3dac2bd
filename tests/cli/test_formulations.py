"""`--maximizer` and `--iterate K` on the commands: what they print, what they record, what they refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import selftaught
from selftaught.api._resume import SAFE_ON_RESUME, resumed_settings
from selftaught.api._transfer import SAFE_ON_RESUME as TRANSFER_SAFE_ON_RESUME
from selftaught.cli import main
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.improver import seed_improver
from selftaught.stop.formulations import describe_line
from selftaught.store._transfer import transfer_key
from support import ADDER_TASK_FILE

TINY = ["--downstream-runs", "2", "--max-responses", "1", "--utility-budget", "2", "--lm-budget", "1"]
#: Appends a marker (what the LM said) to the solution it is given.
MARKER = '''
def improve_algorithm(initial_solution, utility, language_model):
    said = language_model.prompt("marker", "say something", n_responses=1)[0].strip()
    return initial_solution + f"# pass: {said}\\n"
'''
IDENTITY = "def improve_algorithm(initial_solution, utility, language_model):\n    return initial_solution\n"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> tuple[dict[str, Any], str]:
    assert main([*argv, "--json"]) == status
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return json.loads(out), err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {"task": tmp_path / "adder.py", "marker": tmp_path / "marker.py", "identity": tmp_path / "identity.py",
            "replies": tmp_path / "replies.json"}
    made["task"].write_text(ADDER_TASK_FILE)
    made["marker"].write_text(MARKER)
    made["identity"].write_text(IDENTITY)
    made["replies"].write_text(json.dumps(["hello"]))
    return made


@pytest.mark.parametrize("command", [["transfer", "I.py"], ["compare", "A.py", "B.py"], ["improve", "sum"]])
def test_iterate_below_one_is_a_one_line_user_error(command: list[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("I.py", "A.py", "B.py"):
        (tmp_path / name).write_text(IDENTITY)
    data, _ = run_json(capsys, *command, "--iterate", "0", status=2)
    assert data["error"] == "--iterate must be at least 1, got 0"


def test_improve_as_a_maximizer_applied_twice_starts_empty_and_marks_twice(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = run_json(capsys, "improve", str(files["task"]), "--improver", str(files["marker"]), "--maximizer",
                       "--iterate", "2", "--lm", f"scripted:{files['replies']}", *TINY)
    assert data["solution"] == "# pass: hello\n# pass: hello\n"  # from the empty solution, pass 2 from pass 1's
    assert [(p["pass"], p["lm_calls"], p["utility_calls"]) for p in data["passes"]] == [(1, 1, 0), (2, 1, 0)]
    assert data["lm_calls"] == 2 and data["failure"] is None
    assert data["formulation"] == {"maximizer": True, "initial_solution": "empty (maximizer)", "iterate": 2,
                                   "per_pass": {"lm_budget": 1, "max_responses_per_call": 1, "utility_budget": 2}}
    line = describe_line(data["formulation"])
    assert "applied 2 times (I^2)" in line and "per pass: 1 LM calls" in line and "2 utility calls" in line
    assert main(["improve", str(files["task"]), "--improver", str(files["identity"]), *TINY]) == 0
    assert "formulation" not in capsys.readouterr().out  # the usual formulation says nothing new


def test_improve_refuses_a_maximizer_with_an_initial_solution(files: dict[str, Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = run_json(capsys, "improve", str(files["task"]), "--maximizer", "--solution", str(files["identity"]),
                       status=2)
    assert "--maximizer starts from the empty solution" in data["error"]


def test_compare_iterated_applies_both_improvers_k_times_and_says_so(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = run_json(capsys, "compare", str(files["identity"]), str(files["marker"]), "--task", str(files["task"]),
                       "--iterate", "2", "--lm", f"scripted:{files['replies']}", *TINY)
    assert data["formulation"]["iterate"] == 2 and data["formulation"]["per_pass"]["lm_budget"] == 1
    assert data["difference"]["mean"] == 0  # comments do not change the adder's score
    assert data["usage"]["calls"] == 2 * 2  # B: 2 downstream runs x 2 passes, one call each; A calls nothing


def test_a_run_refuses_iterate_which_is_a_test_time_setting(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="I\\^k is applied at test time"):
        selftaught.run(iterate=2, runs_dir=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("safe", [SAFE_ON_RESUME, TRANSFER_SAFE_ON_RESUME])
def test_a_resume_keeps_the_formulation_it_was_started_with(safe: frozenset[str]) -> None:
    recorded = Config().to_dict()
    for given in ({"maximizer": True}, {"iterate": 2}):
        with pytest.raises(UserError, match="differs"):
            resumed_settings(recorded, given, safe, lambda flag, value, was: f"{flag} {value} differs from {was}")
    # recorded before the formulations existed: the defaults, which may be given again
    old = {k: v for k, v in recorded.items() if k not in ("maximizer", "iterate")}
    assert resumed_settings(old, {"maximizer": False, "iterate": 1}, safe, lambda *_: "refused") == old


def test_a_transfer_file_keyed_before_the_formulations_keeps_its_key() -> None:
    seed = seed_improver()
    now = Config().to_dict()
    before = {k: v for k, v in now.items() if k not in ("maximizer", "iterate")}
    assert transfer_key(seed, seed, now, "f") == transfer_key(seed, seed, before, "f")
    assert transfer_key(seed, seed, {**now, "iterate": 2}, "f") != transfer_key(seed, seed, now, "f")
    assert transfer_key(seed, seed, {**now, "maximizer": True}, "f") != transfer_key(seed, seed, now, "f")


def test_the_arena_iterated_applies_every_improver_k_times_and_says_so(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "arena.json"
    data, _ = run_json(capsys, "arena", str(files["identity"]), str(files["marker"]), "--task", str(files["task"]),
                       "--iterate", "2", "--maximizer", "--lm", f"scripted:{files['replies']}", "--out", str(out),
                       *TINY)
    assert data["formulation"]["iterate"] == 2 and data["formulation"]["maximizer"] is True
    assert data["usage"]["calls"] == 2 * 2  # the marker: 2 downstream runs x 2 passes, one call each
    assert "Formulation: each improver applied 2 times (I^2)" in out.with_suffix(".md").read_text()
