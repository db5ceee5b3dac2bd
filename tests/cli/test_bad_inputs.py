"""Clumsy input gets a clear answer and loses nothing: oversized files, non-finite numbers, improvers that return
nothing, scripted replies that match nothing, tasks whose own code breaks, and what `score` says of failures;
everyday mistakes named in one line with the fix, JSON on every way out, and candidate text that stays text on a
terminal."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import _tasks, build_parser, main
from selftaught.cli._common import CONFIG_KEYS
from selftaught.cli._signals import Terminated
from selftaught.errors import InfrastructureError, RunLimitReached, UserError

DATA = Path(__file__).resolve().parent.parent / "data"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mytask.py"


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 2) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("selftaught:")]  # not progress or notes
    assert len(lines) == 1 and lines[0].startswith("selftaught: error:"), err
    assert "Traceback" not in err
    return lines[0]


def test_an_endless_input_file_is_refused_after_its_size_cap(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    line = one_error_line(capsys, ["score", "lpn", "/dev/zero"])
    assert "is over 1 MiB" in line and time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("argv", "needle"),
    [(["run", "--config", "/dev/zero"], "config file /dev/zero is over 1 MiB"),
     (["improve", "lpn", "--lm", "scripted:/dev/zero"], "scripted replies file /dev/zero is over 64 MiB"),
     (["improve", "lpn", "--improver", "/dev/zero"], "improver file /dev/zero is over 1 MiB")],
)
def test_every_input_file_is_read_with_a_cap(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert needle in one_error_line(capsys, argv)


def test_a_huge_solution_file_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.py"
    big.write_text("def algorithm(a):\n    return 0\n" + "# padding\n" * 300_000)
    started = time.monotonic()
    assert "is over 1 MiB" in one_error_line(capsys, ["score", "lpn", str(big)])
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--improver-timeout", "inf", "error: --improver-timeout must be a finite number"),
        ("--improver-timeout", "nan", "error: --improver-timeout must be a finite number"),
        ("--temperature", "nan", "error: --temperature must be a finite number"),
        ("--temperature", "3", "error: --temperature must be at most 2"),
        ("--max-usd", "nan", "error: --max-usd must be a finite number"),
        ("--request-timeout", "-inf", "error: --request-timeout must be a finite number"),
        ("--seed", "-1", "error: --seed must be at least 0"),
        ("--memory-mb", "99999999999", "error: --memory-mb must be at most"),
        ("--max-responses", "0", "error: --max-responses must be at least 1"),  # dest max_responses_per_call
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused_before_anything_runs(
    flag: str, value: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert needle in one_error_line(capsys, ["run", f"{flag}={value}", "--runs-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())  # no run directory was made


def test_a_non_finite_number_in_a_config_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.toml"
    config.write_text("improver_timeout = inf\n")
    line = one_error_line(capsys, ["run", "--config", str(config)])
    assert line == f"selftaught: error: improver_timeout must be a finite number, got inf (in the config file {config})"


def test_an_improver_that_returns_nothing_is_a_failure_with_a_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    improver = tmp_path / "lazy.py"
    improver.write_text("def improve_algorithm(initial_solution, utility, language_model):\n    return None\n")
    assert main(["improve", "lpn", "--improver", str(improver), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["failure"] == "no_solution" and data["solution"] is None
    assert "returned NoneType" in data["detail"]


def test_the_seed_improver_with_replies_without_code_fails_as_no_solution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "talk.json"
    script.write_text(json.dumps(["I would rather not write code today."]))
    assert main(["improve", "lpn", "--lm", f"scripted:{script}", "--max-responses", "2"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("the improver failed: no_solution")


def test_scripted_replies_that_match_nothing_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "mismatch.json"
    script.write_text(json.dumps([{"match": "a phrase no prompt holds", "response": "```python\nx = 1\n```"}]))
    main(["improve", "lpn", "--lm", f"scripted:{script}", "--max-responses", "2", "--json"])
    captured = capsys.readouterr()
    assert "1 LM request(s) matched no entry of" in captured.err
    assert json.loads(captured.out)["warnings"] == [
        f"1 LM request(s) matched no entry of {script}: their replies only say so (check the entries' \"match\" "
        "strings)"]


def test_score_names_each_failure_kind_and_the_first_failures_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hack = tmp_path / "hack.py"
    hack.write_text("import numpy as np\ndef algorithm(x, y, t):\n    return np.zeros((20, 1))\n")
    assert main(["score", "lpn", str(hack)]) == 0
    out = capsys.readouterr().out
    assert "score 0.0000 [95% CI 0.0000, 0.0000; Hoeffding ±0.304]  (20 instances, failures: bad_output: 20," in out
    assert "first failure: expected 20 predictions, each 0 or 1 (a list or a 1-D array); got a numpy float64 " \
           "array of shape (20, 1)" in out
    assert "reward-hacking flags: lax_would_accept: 20" in out


def test_score_says_why_a_program_failed_to_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_xyz\ndef algorithm(x, y, t):\n    return [0] * 20\n")
    assert main(["score", "lpn", str(broken)]) == 0
    out = capsys.readouterr().out
    assert "the program failed before any instance ran (exception" in out
    assert "ModuleNotFoundError: No module named 'no_such_module_xyz'" in out
    assert "failures: none" not in out and "[" not in out.splitlines()[-1]


def task_file(tmp_path: Path, old: str, new: str) -> Path:
    """The example task with one change, and a correct solution for it beside (`sorter.py`)."""
    text = EXAMPLE.read_text()
    assert old in text
    path = tmp_path / "faulty_task.py"
    path.write_text(text.replace(old, new))
    (tmp_path / "sorter.py").write_text("def algorithm(values):\n    return sorted(values)\n")
    return path


def test_a_task_whose_scorer_raises_is_reported_as_the_tasks_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = task_file(tmp_path, "    (values,) = args\n", "    (values,) = args\n    values[10**6]\n")
    line = one_error_line(capsys, ["score", str(task), str(tmp_path / "sorter.py")])
    assert line == ("selftaught: error: task sort_list (faulty_task.py): its scorer raised IndexError: "
                    "list index out of range")


def test_a_task_whose_instances_cannot_be_sent_is_reported_as_the_tasks_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = task_file(tmp_path, "return (values,), sorted(values)", "return (set(values),), sorted(values)")
    line = one_error_line(capsys, ["score", str(task), str(tmp_path / "sorter.py")])
    assert "task sort_list (faulty_task.py): instance 0 of val has arguments a worker cannot receive" in line


def test_a_run_stops_cleanly_on_a_task_bug_and_keeps_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = task_file(tmp_path, "    (values,) = args\n", "    (values,) = args\n    values[10**6]\n")
    line = one_error_line(capsys, ["run", "--task", str(task), "--iterations", "1", "--downstream-runs", "1",
                                   "--max-responses", "2", "--runs-dir", str(tmp_path / "runs")])
    assert "its scorer raised IndexError" in line
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is False and summary["stopped"].startswith("ScorerError: task sort_list")
    assert (run_dir / "manifest.json").is_file() and (run_dir / "events.jsonl").stat().st_size > 0


def test_the_lm_flag_help_lists_every_provider(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["run"], ["improve", "lpn"], ["transfer", "x.py"], ["safety", "sandbox-flag"]):
        assert main([*command, "--help"]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "openai:MODEL" in out and "anthropic:MODEL" in out and "scripted:PATH" in out, command


def test_score_json_records_the_secrets_fingerprint_never_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    solution = tmp_path / "zeros.py"
    solution.write_text("def algorithm(x, y, t):\n    return [0] * 20\n")
    outputs = []
    for secret in ("first-secret-value", "second-secret-value"):
        assert main(["score", "lpn", str(solution), "--json", "--split-secret", secret]) == 0
        out = capsys.readouterr().out
        assert secret not in out
        outputs.append(json.loads(out))
    fingerprints = {o["split_secret"]["fingerprint"] for o in outputs}
    assert len(fingerprints) == 2 and {o["split_secret"]["source"] for o in outputs} == {"flag"}
    assert outputs[0]["score"] != outputs[1]["score"]  # other instances, other labels


# Everyday mistakes: one line naming the file (or flag, or variable) and the fix, exit 2, never a traceback.

FIVE = "algorithm = 5\n"
NOT_AN_IMPROVER = "improve_algorithm = None\n"


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def seed_not_python(tmp_path: Path) -> str:
    return str(task_file(tmp_path, "    values = list(values)\n", "    values = list(values\n"))


def absurd_splits(tmp_path: Path) -> str:
    return str(task_file(tmp_path, 'SPLITS = {"val": 10, "test": 20}', 'SPLITS = {"val": 10**9, "test": 20}'))


def a_run(tmp_path: Path) -> str:
    from report.runs import make_run

    return str(make_run(tmp_path / "run"))


SEED_NOT_PYTHON = ("selftaught: error: faulty_task.py: SEED_SOLUTION is not valid Python (line 3 of it: '(' was never "
                   "closed); fix the seed solution")
EVERYDAY: list[tuple[str, Any, str]] = [
    ("improve, a seed that is not Python", lambda t: ["improve", seed_not_python(t)], SEED_NOT_PYTHON),
    ("run, a seed that is not Python", lambda t: ["run", "--task", seed_not_python(t), "--runs-dir", str(t / "runs")],
     SEED_NOT_PYTHON),
    ("score, a seed that is not Python", lambda t: ["score", seed_not_python(t), str(t / "sorter.py")],
     SEED_NOT_PYTHON),
    ("a seed without the entrypoint", lambda t: ["improve", str(task_file(t, "def algorithm(values):", "def f(v):"))],
     "faulty_task.py: SEED_SOLUTION does not define algorithm(): define it at the top level with `def algorithm("),
    ("absurd split sizes", lambda t: ["score", absurd_splits(t), str(t / "sorter.py")],
     "selftaught: error: faulty_task.py: SPLITS['val'] is 1000000000; a split may have at most 10000 instances"),
    ("report, a missing --transfer file", lambda t: ["report", a_run(t), "--transfer", str(t / "missing.json")],
     "selftaught: error: transfer results file not found: "),
    ("safety, too many samples", lambda t: ["safety", "sandbox-flag", "--samples", "100000000"],
     "selftaught: error: --samples must be at most 100000 (got 100000000)"),
    ("score, algorithm = 5", lambda t: ["score", "lpn", write(t, "five.py", FIVE)],
     "five.py binds algorithm to `5`, which is not a function: define it with `def algorithm(...):`"),
    ("improve, --solution with algorithm = 5", lambda t: ["improve", "lpn", "--solution", write(t, "five.py", FIVE)],
     "five.py binds algorithm to `5`, which is not a function: define it with `def algorithm(...):`"),
    ("improve, an improver that is not a function",
     lambda t: ["improve", "lpn", "--improver", write(t, "none.py", NOT_AN_IMPROVER)],
     "none.py binds improve_algorithm to `None`, which is not a function"),
    ("transfer, an improver that is not a function",
     lambda t: ["transfer", write(t, "none.py", NOT_AN_IMPROVER)], "binds improve_algorithm to `None`"),
    ("compare, an improver that is not a function",
     lambda t: ["compare", write(t, "none.py", NOT_AN_IMPROVER), write(t, "b.py", NOT_AN_IMPROVER)],
     "binds improve_algorithm to `None`"),
]


@pytest.mark.parametrize(("make", "needle"), [pytest.param(make, needle, id=name) for name, make, needle in EVERYDAY])
def test_an_everyday_mistake_is_one_line_with_the_fix(
    make: Any, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = make(tmp_path)
    started = time.monotonic()
    assert needle in one_error_line(capsys, argv)
    assert time.monotonic() - started < 20  # refused before any work (an absurd split used to hang)
    assert not (tmp_path / "runs").exists()  # a run refused at the start leaves no run directory


@pytest.mark.parametrize("argv", [["improve", "lpn"], ["run"], ["safety", "sandbox-flag", "--samples", "1"]])
def test_a_bad_lm_spec_from_the_environment_names_the_variable(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SELFTAUGHT_LM", "garbage")
    line = one_error_line(capsys, [*argv, "--runs-dir", str(tmp_path)] if argv == ["run"] else argv)
    assert line.startswith("selftaught: error: unknown LM spec 'garbage' in the SELFTAUGHT_LM environment variable: "
                           "valid forms are mutate, ")
    assert "--lm" not in line
    monkeypatch.setenv("SELFTAUGHT_LM", "scripted:")
    assert "in the SELFTAUGHT_LM environment variable: scripted needs a file" in one_error_line(
        capsys, argv if argv != ["run"] else [*argv, "--runs-dir", str(tmp_path)])


def test_a_bad_lm_spec_from_a_config_file_names_the_file_and_the_flag_wins_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[model]\nlm = "garbage"\n')
    monkeypatch.setenv("SELFTAUGHT_LM", "also-garbage")
    line = one_error_line(capsys, ["improve", "lpn", "--config", str(config)])
    assert line.startswith(f"selftaught: error: unknown LM spec 'garbage' in `lm` of {config}: valid forms are ")
    assert "SELFTAUGHT_LM" not in line
    line = one_error_line(capsys, ["improve", "lpn", "--config", str(config), "--lm", "flagged"])
    assert line.startswith("selftaught: error: unknown --lm spec 'flagged'") and "config file" not in line


def _parsers() -> list[tuple[list[str], argparse.ArgumentParser]]:
    """Every parser of the command line, with the words that reach it."""
    found: list[tuple[list[str], argparse.ArgumentParser]] = []

    def walk(words: list[str], parser: argparse.ArgumentParser) -> None:
        found.append((words, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk([*words, name], sub)

    walk([], build_parser())
    return found


INTERNAL = {a.dest for _, p in _parsers() for a in p._actions if "_" in a.dest or a.dest == "study"}


def test_no_message_names_an_internal_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every command with its arguments missing, every group with an unknown command, every config flag with a value
    out of range: the messages name commands, flags and metavars, never argparse's dest names."""
    assert {"runs_command", "sandbox_command", "study", "transfer_tasks", "max_responses_per_call"} <= INTERNAL
    argvs: list[list[str]] = []
    for words, parser in _parsers():
        if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            argvs += [words, [*words, "no-such-command"]]
        elif any(a.required and not a.option_strings for a in parser._actions):
            argvs.append(words)  # its positional arguments missing
    (run,) = [parser for words, parser in _parsers() if words == ["run"]]
    for action in run._actions:
        if action.option_strings and action.type in (int, float) and action.dest in CONFIG_KEYS:
            argvs.append(["run", f"{action.option_strings[-1]}=-5", "--runs-dir", str(tmp_path)])
    argvs += [["transfer", "x.py", "--tasks", ","], ["safety", "sandbox-flag", "--seed", "-1"],
              ["score", "lpn", "x.py", "--seed", "-1"]]
    for argv in argvs:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("selftaught: error:") and err.count("\n") == 1, (argv, err)
        named = set(re.findall(r"[a-z]+(?:_[a-z]+)+|\bstudy\b", err.split("error:", 1)[1]))
        assert not named & INTERNAL, (argv, err)
        if len(argv) > 1 and "=-5" in argv[1]:
            assert f"error: {argv[1].split('=')[0]} must be at least" in err, err


@pytest.mark.parametrize(
    ("raised", "kind", "status"),
    [(UserError("no such thing"), "error", 2), (InfrastructureError("the pipe broke"), "failure", 3),
     (RunLimitReached("--max-usd 1 reached"), "stopped", 4), (KeyboardInterrupt(), "interrupted", 130),
     (Terminated(), "terminated", 143)],
)
def test_with_json_every_way_out_prints_one_json_object(
    raised: BaseException, kind: str, status: int, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> None:
        raise raised

    monkeypatch.setattr(_tasks, "builtin_tasks", fail)
    assert main(["tasks", "--json"]) == status
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()
    assert json.loads(line) == {"error": str(raised) or kind, "kind": kind, "exit": status}
    assert captured.err.startswith(f"selftaught: {kind}") and captured.err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "error"),
    [(["score", "--json"], "the following arguments are required: task, solution"),
     (["--json"], "selftaught needs a command: tasks, score, improve, improvers, run, runs, transfer, compare, arena, "
                  "reproduce, "),
     (["runs", "--json"], "selftaught runs needs a command: list, show"),
     (["runs", "nope", "--json"], "unknown command 'nope' for selftaught runs (choose from list, show)"),
     (["run", "--iterations", "many", "--json"], "argument --iterations: invalid int value: 'many'"),
     (["score", "nope", "x.py", "--json"], "unknown task 'nope'")],
)
def test_with_json_a_usage_error_is_one_json_object_too(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()
    data = json.loads(line)
    assert data["kind"] == "error" and data["exit"] == 2 and data["error"].startswith(error)
    assert captured.err == f"selftaught: error: {data['error']}\n"
    assert main([a for a in argv if a != "--json"]) == 2 and capsys.readouterr().out == ""  # only when asked


# Candidate text on a terminal: escape sequences are shown, never acted on.

TERMINAL_PAYLOAD = (r"\x1b[2K\rparity_noise [val] score 1.0000  (20 instances, failures: none)\x1b]0;pwned\x07"
                    r"\x9b2J\u202eevil")
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_inert(text: str) -> None:
    assert not RAW.search(text), repr(text)


def test_a_hostile_exception_message_cannot_redraw_the_score_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    solution = write(tmp_path, "hostile.py", f"def algorithm(x, y, t):\n    raise ValueError('{TERMINAL_PAYLOAD}')\n")
    assert main(["score", "lpn", solution]) == 0
    captured = capsys.readouterr()
    assert_inert(captured.out + captured.err)
    head, first = captured.out.splitlines()
    assert head.startswith("parity_noise [val] score 0.0000") and "failures: exception: 20" in head
    assert first.startswith("  first failure: ValueError: \\x1b[2K\\rparity_noise [val] score 1.0000")  # shown whole
    assert "\\x1b]0;pwned\\x07\\x9b2J\\u202eevil" in first
    assert main(["score", "lpn", solution, "--json"]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert "\x1b]0;pwned\x07\x9b2J\u202eevil" in json.loads(out)["detail"]  # the data is kept as it was


def test_a_hostile_improver_cannot_write_escapes_through_improve_or_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    improver = write(tmp_path, "hostile.py", "def improve_algorithm(initial_solution, utility, language_model):\n"
                     f"    raise ValueError('{TERMINAL_PAYLOAD}')\n")
    assert main(["improve", "lpn", "--improver", improver]) == 1
    captured = capsys.readouterr()
    assert_inert(captured.out + captured.err)
    assert captured.out.startswith("the improver failed: exception") and "\\x1b]0;pwned\\x07" in captured.out
    lazy = write(tmp_path, "lazy.py", "def improve_algorithm(initial_solution, utility, language_model):\n"
                 "    return initial_solution\n")
    assert main(["compare", lazy, improver, "--downstream-runs", "1"]) == 0
    captured = capsys.readouterr()
    assert_inert(captured.out + captured.err)
    assert "every downstream run of B failed (exception: 1)" in captured.out
    assert "first failure: exception: ValueError: \\x1b[2K\\rparity_noise" in captured.out


def test_runs_show_prints_a_hostile_stop_reason_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = Path(a_run(tmp_path))
    summary = json.loads((run / "summary.json").read_text())
    summary.update(complete=False, stopped=f"ValueError: {TERMINAL_PAYLOAD}".encode().decode("unicode_escape"))
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["runs", "show", str(run)]) == 0
    captured = capsys.readouterr()
    assert_inert(captured.out + captured.err)
    assert "(ValueError: \\x1b[2K\\rparity_noise [val] score 1.0000" in captured.out
