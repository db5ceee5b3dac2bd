"""`run --resume`: a run killed at any instant (SIGKILL included) and resumed ends with the result of an uninterrupted
run with the same seed, replaying its finished LM calls and evaluations; SIGTERM and Ctrl-C stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selftaught.store import event_fingerprint, read_events
from support import TEST_SECRET_TEXT, sigint_as_default

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--iterations", "2", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "4",
         "--meta-utility-budget", "3", "--seed", "5", "--json"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SELFTAUGHT_SPLIT_SECRET": TEST_SECRET_TEXT}
Events = list[dict[str, Any]]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "selftaught", "run", *args]


def finish(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def only_run(runs_dir: Path) -> Path | None:
    found = [p for p in runs_dir.iterdir() if p.is_dir()] if runs_dir.is_dir() else []
    return found[0] if found else None


Ready = Callable[[Path, Events], bool]


def start_until(runs_dir: Path, ready: Ready, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """Starts a run and returns once `ready(run_dir, events)` holds (the run still going)."""
    proc = subprocess.Popen(command(*FLAGS, "--runs-dir", str(runs_dir), *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=sigint_as_default)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run_dir = only_run(runs_dir)
        if run_dir is not None and (run_dir / "events.jsonl").exists() and ready(run_dir, read_events(run_dir)):
            return proc, run_dir
        assert proc.poll() is None, f"the run ended before the kill point: {proc.communicate()[1][-2000:]}"
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the kill point never came")


def results(summary: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on interruptions: the improvers, their scores, the counters and the LM usage."""
    usage = {k: summary["usage"][k] for k in ("calls", "requests", "input_tokens", "output_tokens", "cost_usd")}
    return {"iterations": summary["iterations"], "counters": summary["counters"], "usage": usage}


def fingerprints(run_dir: Path) -> Counter[str]:
    """The run's events without timing (`load_time` is CPU time measured: it differs between separate runs)."""
    return Counter(event_fingerprint({k: v for k, v in e.items() if k != "load_time"})
                   for e in read_events(run_dir) if e["kind"] != "resumed")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Counter[str]]:
    runs = tmp_path_factory.mktemp("uninterrupted")
    summary = finish(command(*FLAGS, "--runs-dir", str(runs)))
    return summary, fingerprints(Path(summary["run_dir"]))


def lm_calls(n: int) -> Callable[[Path, Events], bool]:
    return lambda _d, events: sum(e["kind"] == "lm_call" for e in events) >= n


def in_iteration_1(_d: Path, events: Events) -> bool:
    return any(e["kind"] == "improver_run" and e.get("iteration") == 1 for e in events)


def after_summary_of_iteration_1(run_dir: Path, _events: Events) -> bool:
    try:
        return len(json.loads((run_dir / "summary.json").read_text())["iterations"]) >= 2
    except (OSError, ValueError):
        return False


@pytest.mark.parametrize("kill_point", [lm_calls(1), in_iteration_1, after_summary_of_iteration_1],
                         ids=["first-lm-call", "mid-iteration-1", "after-iteration-1-summary"])
def test_a_run_killed_and_resumed_ends_as_an_uninterrupted_run_does(
    tmp_path: Path, uninterrupted: tuple[dict[str, Any], Counter[str]], kill_point: Callable[[Path, Events], bool]
) -> None:
    proc, run_dir = start_until(tmp_path, kill_point)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    before = read_events(run_dir)
    resumed = finish(command("--resume", str(run_dir), "--json"))
    expected, events = uninterrupted
    assert resumed["complete"] and resumed["status"] == "complete"
    assert results(resumed) == results(expected)
    assert fingerprints(run_dir) == events  # no duplicate, missing or contradictory record
    session = resumed["sessions"][-1]
    assert session["resumed"] and session["unmatched_events"] == 0
    assert session["replayed_lm_calls"] >= sum(e["kind"] == "lm_call" for e in before) >= 1
    assert [e["kind"] for e in read_events(run_dir)].count("resumed") == 1


def test_a_run_killed_twice_even_while_resuming_still_ends_the_same(
    tmp_path: Path, uninterrupted: tuple[dict[str, Any], Counter[str]]
) -> None:
    proc, run_dir = start_until(tmp_path, lm_calls(3))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    with (run_dir / "events.jsonl").open("a") as f:
        f.write('{"kind": "lm_call", "tor')  # what a kill in the middle of a write leaves
    again = subprocess.Popen(command("--resume", str(run_dir), "--json"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 60
    while not any(e.get("kind") == "resumed" for e in read_events(run_dir)) or \
            not in_iteration_1(run_dir, read_events(run_dir)):
        assert again.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    again.send_signal(signal.SIGKILL)
    again.communicate(timeout=30)
    resumed = finish(command("--resume", str(run_dir), "--json"))
    assert results(resumed) == results(uninterrupted[0])
    assert fingerprints(run_dir) == uninterrupted[1]
    assert [s["resumed"] for s in resumed["sessions"]] == [False, True, True]


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_ctrl_c_stop_a_run_cleanly_and_say_how_to_resume_it(tmp_path: Path, signum: int, code: int) -> None:
    proc, run_dir = start_until(tmp_path, in_iteration_1)
    workers = descendants(proc.pid)
    assert workers, "the run has sandbox workers while an improver runs"
    sent = time.monotonic()
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == code, err[-2000:]
    assert took < 5, f"stopping took {took:.1f}s"
    assert f"selftaught run --resume {run_dir}" in err
    time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)], "a worker of the run survived it"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["stopped"] == "interrupted"
    assert summary["resume"] == f"selftaught run --resume {run_dir}"
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]  # no half-written file
    read_events(run_dir)  # every line whole
    assert all(line.endswith("\n") for line in (run_dir / "events.jsonl").read_text().splitlines(keepends=True))


def test_resume_refuses_a_complete_run_and_a_changed_config(
    tmp_path: Path, uninterrupted: tuple[dict[str, Any], Counter[str]]
) -> None:
    run_dir = uninterrupted[0]["run_dir"]
    done = subprocess.run(command("--resume", run_dir), capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 2 and "is complete: there is nothing to resume" in done.stderr
    proc, killed = start_until(tmp_path, lm_calls(1))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    done = subprocess.run(command("--resume", str(killed), "--seed", "6"), capture_output=True, text=True, env=ENV,
                          timeout=60)
    assert done.returncode == 2 and "--seed 6 differs from the run's (5)" in done.stderr
    other_secret = {**ENV, "SELFTAUGHT_SPLIT_SECRET": "another"}
    done = subprocess.run(command("--resume", str(killed)), capture_output=True, text=True, env=other_secret,
                          timeout=60)
    assert done.returncode == 2 and "split secret differs" in done.stderr
