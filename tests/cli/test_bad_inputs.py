"""Clumsy input gets a clear answer and loses nothing: oversized files, non-finite numbers, improvers that return
nothing, scripted replies that match nothing, tasks whose own code breaks, and what `score` says of failures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main

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
        ("--improver-timeout", "inf", "improver_timeout must be a finite number"),
        ("--improver-timeout", "nan", "improver_timeout must be a finite number"),
        ("--temperature", "nan", "temperature must be a finite number"),
        ("--temperature", "3", "temperature must be at most 2"),
        ("--max-usd", "nan", "max_usd must be a finite number"),
        ("--request-timeout", "-inf", "request_timeout must be a finite number"),
        ("--seed", "-1", "seed must be at least 0"),
        ("--memory-mb", "99999999999", "memory_mb must be at most"),
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
    assert "improver_timeout must be a finite number" in one_error_line(capsys, ["run", "--config", str(config)])


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
