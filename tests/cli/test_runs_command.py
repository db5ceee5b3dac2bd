"""`runs list` and `runs show`: every run directory gets a status (complete, interrupted, failed, capped, or
unreadable for corrupt and foreign ones), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main
from selftaught.store import FORMAT_VERSION


def iteration(t: int, test: float) -> dict[str, Any]:
    return {"iteration": t, "improver": f"{t:016x}", "meta_utility_val": test + 0.01, "meta_utility_test": test,
            "selection_score": None if t == 0 else test - 0.02, "kept_previous": False, "failure": None, "detail": ""}


def make_run(root: Path, name: str, summary: dict[str, Any] | None, *, version: int = FORMAT_VERSION,
             events: list[dict[str, Any]] | None = None) -> Path:
    run = root / name
    (run / "improvers").mkdir(parents=True)
    (run / "programs").mkdir()
    manifest = {"format_version": version, "command": ["selftaught", "run"], "seed": 1, "started": 1.7e9,
                "config": {"task": "parity_noise", "lm": "mutate", "iterations": 3, "downstream_runs": 2,
                           "lm_budget": 4, "max_responses_per_call": 2, "utility_budget": 4, "meta_utility_budget": 3},
                "task": {"name": "parity_noise"}, "sandbox": {"name": "bwrap", "isolated": True}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    lines = [json.dumps(e) for e in events or []]
    (run / "events.jsonl").write_text("".join(line + "\n" for line in lines))
    return run


def summary(status: str, iterations: int, stopped: str | None = None, cost: float = 0.25) -> dict[str, Any]:
    return {"status": status, "complete": status == "complete", "stopped": stopped,
            "iterations": [iteration(t, 0.5 + t / 10) for t in range(iterations)],
            "usage": {"calls": 10, "input_tokens": 100, "output_tokens": 50, "cost_usd": cost, "cache_hits": 0},
            "safety": {"run": {"programs_flagged": 2, "runtime": {"file_read": 3}, "sandbox_flag_off": 0,
                               "reward_hacking": {}}}}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run(root, "a-complete", summary("complete", 4))
    make_run(root, "b-interrupted", summary("interrupted", 2, "interrupted"))
    make_run(root, "c-failed", summary("failed", 1, "LMError: the server is gone"))
    make_run(root, "d-capped", summary("capped", 2, "--max-usd 0.2 reached ($0.2500 spent)"))
    killed = [{"kind": "lm_call", "cost_usd": 0.5, "iteration": 0}, {"kind": "iteration", **iteration(0, 0.4)},
              {"kind": "iteration", **iteration(1, 0.45)}, {"kind": "lm_call", "cost_usd": 0.25, "iteration": 1}]
    run = make_run(root, "e-killed", summary("running", 1), events=killed)
    with (run / "events.jsonl").open("a") as f:
        f.write('{"kind": "lm_call", "cost_')  # torn by the kill
    make_run(root, "f-killed-at-once", None)
    make_run(root, "g-format-1-complete", {k: v for k, v in summary("complete", 2).items() if k != "status"},
             version=1)
    make_run(root, "h-newer", summary("complete", 1), version=FORMAT_VERSION + 1)
    (root / "i-corrupt").mkdir()
    (root / "i-corrupt" / "manifest.json").write_text("{not json")
    (root / "j-foreign").mkdir()
    (root / "j-foreign" / "notes.txt").write_text("hello")
    (root / "k-list-manifest").mkdir()
    (root / "k-list-manifest" / "manifest.json").write_text("[1, 2]")
    return root


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_list_gives_each_run_its_status_and_lists_bad_directories_as_unreadable(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", str(runs), "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)["runs"]}
    assert {k: r["status"] for k, r in rows.items()} == {
        "a-complete": "complete", "b-interrupted": "interrupted", "c-failed": "failed", "d-capped": "capped",
        "e-killed": "interrupted", "f-killed-at-once": "interrupted", "g-format-1-complete": "complete",
        "h-newer": "unreadable", "i-corrupt": "unreadable", "j-foreign": "unreadable", "k-list-manifest": "unreadable"}
    assert rows["a-complete"]["iterations_done"] == 3 and rows["a-complete"]["iterations"] == 3
    assert rows["a-complete"]["best_meta_utility_test"] == pytest.approx(0.8)
    assert rows["a-complete"]["cost_usd"] == 0.25 and rows["a-complete"]["lm"] == "mutate"
    # killed: its events (torn last line skipped) know more than its last summary
    assert rows["e-killed"]["iterations_done"] == 1 and rows["e-killed"]["cost_usd"] == 0.75
    assert rows["f-killed-at-once"]["iterations_done"] is None
    assert "newer selftaught" in rows["h-newer"]["reason"]
    assert "no manifest.json" in rows["j-foreign"]["reason"]
    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", str(runs))
    assert code == 0
    assert "a-complete" in out and "3/3" in out and "0.8000" in out and "$0.2500" in out
    assert "i-corrupt" in out and "unreadable" in out


def test_runs_show_prints_the_manifest_iterations_usage_safety_and_how_to_resume(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "runs", "show", "b-interrupted", "--runs-dir", str(runs))
    assert code == 0
    assert "status: interrupted" in out and "task parity_noise, LM mutate, seed 1" in out
    assert "I_1" in out and "0.6000" in out and "LM usage: 10 calls" in out
    assert "2 programs statically flagged" in out and "file_read 3" in out
    assert f"resume with: selftaught run --resume {runs / 'b-interrupted'}" in out
    code, out, _ = run_cli(capsys, "runs", "show", str(runs / "a-complete"), "--json")
    data = json.loads(out)
    assert code == 0 and data["status"] == "complete" and data["resume"] is None
    assert len(data["iteration_records"]) == 4
    code, out, _ = run_cli(capsys, "runs", "show", str(runs / "c-failed"))
    assert "status: failed (LMError: the server is gone)" in out and "--resume" in out


@pytest.mark.parametrize(("name", "message"), [("i-corrupt", "manifest.json is unreadable"),
                                               ("j-foreign", "no manifest.json"),
                                               ("h-newer", "newer selftaught"),
                                               ("nowhere", "no run directory nowhere")])
def test_runs_show_refuses_a_bad_directory_in_one_line(
    runs: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    code, _out, err = run_cli(capsys, "runs", "show", name, "--runs-dir", str(runs))
    assert code == 2 and message in err and "Traceback" not in err


def test_resume_refuses_format_1_runs_and_unreadable_ones(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = make_run(runs, "l-format-1-interrupted", {"complete": False, "stopped": "interrupted", "iterations": []},
                   version=1)
    code, _out, err = run_cli(capsys, "run", "--resume", str(old))
    assert code == 2 and "older selftaught (run format 1)" in err
    code, _out, err = run_cli(capsys, "run", "--resume", str(runs / "i-corrupt"))
    assert code == 2 and "unreadable" in err


@pytest.mark.parametrize("damage", [b"{\"status\": \"complete\", \"iter", b"\x81\xfe garbage \x00", b"[1, 2]"],
                         ids=["torn", "binary", "not-an-object"])
def test_runs_show_warns_of_a_corrupt_summary_and_shows_what_the_events_say(
    runs: Path, capsys: pytest.CaptureFixture[str], damage: bytes
) -> None:
    events = [{"kind": "lm_call", "cost_usd": 0.5, "iteration": 0}, {"kind": "iteration", **iteration(0, 0.4)}]
    run = make_run(runs, "m-corrupt-summary", None, events=events)
    (run / "summary.json").write_bytes(damage)
    code, out, err = run_cli(capsys, "runs", "show", str(run))
    assert code == 0 and "Traceback" not in err
    assert f"note: {run / 'summary.json'} is not " in err and "come from events.jsonl" in err
    assert "status: interrupted" in out and "I_0" in out and f"resume with: selftaught run --resume {run}" in out
    code, out, err = run_cli(capsys, "runs", "show", str(run), "--json")
    data = json.loads(out)
    assert data["warnings"] == [line.removeprefix("note: ") for line in err.splitlines()]
    assert data["cost_usd"] == 0.5 and data["iterations_done"] == 0


def test_runs_show_says_nothing_of_a_summary_not_written_yet(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(capsys, "runs", "show", "f-killed-at-once", "--runs-dir", str(runs))
    assert code == 0 and "note:" not in err
