"""Nothing lost: however a run stopped, resuming it never saves less than it had (iterations, their rows, LM calls,
dollars), and a resume that can do nothing more (a complete run, a run at its cap) leaves every file as it was."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openai_server import FakeOpenAIServer
from selftaught.api import _run
from selftaught.cli import main
from selftaught.improver import seed_improver
from selftaught.store import read_events
from support import TEST_SECRET_TEXT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mytask.py"
# A whole run makes 11 LM calls with these, 2 of them for I_0.
FLAGS = ["--iterations", "1", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "3",
         "--meta-utility-budget", "2", "--lm-budget", "2", "--seed", "3"]
Summary = dict[str, Any]


def files(run_dir: Path) -> dict[str, str]:
    """Every file of a run directory and a hash of its bytes."""
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def saved(run_dir: Path) -> Summary:
    return dict(json.loads((run_dir / "summary.json").read_text()))


def only_run(runs_dir: Path) -> Path:
    (run_dir,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return run_dir


def assert_keeps(after: Summary, before: Summary) -> None:
    """`after` has every iteration row `before` had (the same rows), and at least its LM calls and dollars."""
    assert len(after["iterations"]) >= len(before["iterations"])
    assert after["iterations"][:len(before["iterations"])] == before["iterations"]
    assert after["usage"]["calls"] >= before["usage"]["calls"]
    assert after["usage"]["cost_usd"] >= before["usage"]["cost_usd"] - 1e-9


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def refused_untouched(capsys: pytest.CaptureFixture[str], run_dir: Path, needle: str, *flags: str) -> None:
    """A resume that can do nothing more: one line saying so (exit 2), and not one byte of the run changed."""
    before = files(run_dir)
    code, err = cli(capsys, "run", "--resume", str(run_dir), *flags)
    assert code == 2 and needle in err, err
    assert [line for line in err.splitlines() if line.startswith("selftaught:")] == [err.strip()]
    assert files(run_dir) == before


def test_resuming_a_complete_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "run", *FLAGS, "--runs-dir", str(tmp_path))[0] == 0
    refused_untouched(capsys, only_run(tmp_path), "is complete: there is nothing to resume")


def test_a_run_stopped_by_max_calls_resumed_at_that_cap_is_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported bug: the resume replayed up to the cap, before the calls the run had in flight when it was
    reached, and rewrote the summary with fewer calls (and iterations) than it had."""
    assert cli(capsys, "run", *FLAGS, "--runs-dir", str(tmp_path), "--max-calls", "5")[0] == 0
    run_dir = only_run(tmp_path)
    before = saved(run_dir)
    assert before["status"] == "capped" and len(before["iterations"]) == 1 and before["usage"]["calls"] >= 5
    calls = before["usage"]["calls"]
    raise_it = f"--max-calls N with N above {calls}"
    refused_untouched(capsys, run_dir, f"is already at its cap (--max-calls 5, and it has made {calls} LM calls)")
    refused_untouched(capsys, run_dir, raise_it, "--max-calls", str(calls))  # a cap it has reached already
    code, err = cli(capsys, "run", "--resume", str(run_dir), "--max-calls", str(calls + 2))
    assert code == 0, err
    after = saved(run_dir)
    assert_keeps(after, before)
    assert after["usage"]["calls"] >= calls + 2 > before["usage"]["calls"]
    # the manifest's cap is below what the run has made now: without the flag, it is at its cap again
    refused_untouched(capsys, run_dir, f"it has made {after['usage']['calls']} LM calls")


def improving_replies(body: dict[str, Any], index: int) -> str:
    """A model that answers an improver with the seed improver and a task with a correct sort (so iteration 1
    measures its candidate, and calls the model after I_0 more than once)."""
    code = seed_improver() if "improve_algorithm" in str(body["messages"][-1]["content"]) else SORT
    return f"```python\n{code}```"


SORT = "def algorithm(values):\n    return sorted(values)\n"


def test_a_run_stopped_by_max_usd_resumed_at_that_cap_keeps_its_rows_and_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported bug with --max-usd: the resume lost the I_0 row and some of the cost."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = tmp_path / "priced.toml"  # I_0 costs $0.16 at these prices, the whole run $0.60
    config.write_text('[prices]\n"test-model" = { input = 100.0, output = 100.0 }\n')
    runs = tmp_path / "runs"
    with FakeOpenAIServer(improving_replies, api_key="test-key") as server:
        code, err = cli(capsys, "run", *FLAGS, "--lm", "openai:test-model", "--base-url", server.url,
                        "--cache", "off", "--config", str(config), "--max-usd", "0.45", "--runs-dir", str(runs),
                        "--max-tokens", "64", "--yes")  # a call reserves about twice its cost: 0.45 lets I_0 finish
        assert code == 0, err
        run_dir = only_run(runs)
        before = saved(run_dir)
        assert before["status"] == "capped" and len(before["iterations"]) == 1, "I_0 was measured before the cap"
        spent = before["usage"]["cost_usd"]
        assert 0.16 <= spent <= 0.45  # each call reserved its worst case first: the cap is never passed
        assert before["capped_at"] == {"cap": "max_usd", "limit": 0.45}
        requests = server.request_count
        refused_untouched(capsys, run_dir, "is already at its cap (--max-usd 0.45, and it has spent $")
        assert server.request_count == requests  # not one request
        code, err = cli(capsys, "run", "--resume", str(run_dir), "--max-usd", str(spent + 0.5))
        assert code == 0, err
    after = saved(run_dir)
    assert_keeps(after, before)
    assert after["usage"]["cost_usd"] > spent


def buggy_task(tmp_path: Path) -> Path:
    """The example task, whose instance generator breaks on the 16th instance: only the test split has one, so the
    run stops (exit 2) once it measures I_0 on test, after its downstream runs made their LM calls."""
    text = EXAMPLE.read_text()
    old = '    n = int(rng.integers(5, 201))\n'
    assert old in text
    path = tmp_path / "buggy_task.py"
    path.write_text(text.replace(old, old + '    if index >= 15:\n        raise IndexError("a bug of the task")\n'))
    return path


def test_a_run_stopped_by_a_task_bug_keeps_what_it_had_when_the_resume_meets_the_bug_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    code, err = cli(capsys, "run", *FLAGS, "--task", str(buggy_task(tmp_path)), "--runs-dir", str(runs))
    assert code == 2 and "a bug of the task" in err
    run_dir = only_run(runs)
    before = saved(run_dir)
    assert before["status"] == "failed" and before["usage"]["calls"] > 0
    code, err = cli(capsys, "run", "--resume", str(run_dir))
    assert code == 2 and "a bug of the task" in err
    after = saved(run_dir)
    assert_keeps(after, before)
    assert after["status"] == "failed" and len(after["sessions"]) == 2


def test_a_run_stopped_by_an_lm_failure_keeps_what_it_had_when_the_resume_fails_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    answered = [0]

    def revoke_after_three(body: dict[str, Any], index: int) -> str:
        if index == 0:
            answered[0] += 1
            if answered[0] >= 3:
                server.api_key = "revoked"  # every later request: 401, a fault no retry fixes
        return improving_replies(body, index)

    runs = tmp_path / "runs"
    with FakeOpenAIServer(revoke_after_three, api_key="test-key") as server:
        argv = [*FLAGS, "--lm", "openai:test-model", "--base-url", server.url, "--cache", "off"]
        code, err = cli(capsys, "run", *argv, "--runs-dir", str(runs))
        assert code == 3 and "selftaught: failure:" in err
        run_dir = only_run(runs)
        before = saved(run_dir)
        assert before["status"] == "failed" and before["usage"]["calls"] >= 2
        code, err = cli(capsys, "run", "--resume", str(run_dir))
        assert code == 3, err
    after = saved(run_dir)
    assert_keeps(after, before)
    assert after["status"] == "failed" and after["sessions"][-1]["replayed_lm_calls"] >= 1


def test_a_resume_interrupted_while_it_replays_keeps_what_the_run_had(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a resume replays: the summary it writes still holds the earlier session's rows, calls and
    dollars (marked `earlier_results`); the next resume finishes the run."""
    assert cli(capsys, "run", *FLAGS, "--runs-dir", str(tmp_path), "--max-calls", "6")[0] == 0
    run_dir = only_run(tmp_path)
    before = saved(run_dir)
    assert len(before["iterations"]) == 1 and before["usage"]["calls"] >= 6
    real = _run.self_improve

    def ctrl_c_after_i_0(*args: Any, on_iteration: Callable[[list[Any]], None], **kwargs: Any) -> Any:
        def then_interrupt(done: list[Any]) -> None:
            on_iteration(done)
            raise KeyboardInterrupt

        return real(*args, on_iteration=then_interrupt, **kwargs)

    monkeypatch.setattr(_run, "self_improve", ctrl_c_after_i_0)
    code, err = cli(capsys, "run", "--resume", str(run_dir), "--max-calls", "100")
    assert code == 130, err
    interrupted = saved(run_dir)
    assert interrupted["status"] == "interrupted" and interrupted["earlier_results"] is True
    assert interrupted["iterations"] == before["iterations"] and interrupted["usage"] == before["usage"]
    assert interrupted["sessions"][-1]["stopped"] == "interrupted"
    monkeypatch.setattr(_run, "self_improve", real)
    code, err = cli(capsys, "run", "--resume", str(run_dir), "--max-calls", "100")
    assert code == 0, err
    done = saved(run_dir)
    assert done["status"] == "complete" and "earlier_results" not in done
    assert_keeps(done, before)
    assert len(done["iterations"]) == 2


ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SELFTAUGHT_SPLIT_SECRET": TEST_SECRET_TEXT}


@pytest.fixture
def stopped_midway(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, Summary]]:
    """A run stopped by a signal once it has finished I_0 and is improving (summary and events on disk)."""
    signum: int = request.param
    proc = subprocess.Popen([sys.executable, "-m", "selftaught", "run", *FLAGS, "--runs-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 120
    while True:
        runs = [p for p in tmp_path.iterdir() if p.is_dir()]
        if runs and (runs[0] / "summary.json").exists() and any(
                e["kind"] == "lm_call" and e.get("iteration") == 1 for e in read_events(runs[0])):
            break
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the stop point"
        time.sleep(0.02)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    run_dir = runs[0]
    before = saved(run_dir)
    if signum != signal.SIGKILL:
        assert before["status"] == "interrupted"
    yield run_dir, before


@pytest.mark.parametrize("stopped_midway", [signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGTERM", "SIGKILL"], indirect=True)
def test_a_run_stopped_by_a_signal_resumes_to_its_end_keeping_what_it_had(
    stopped_midway: tuple[Path, Summary], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, before = stopped_midway
    assert len(before["iterations"]) == 1
    code, err = cli(capsys, "run", "--resume", str(run_dir))
    assert code == 0, err
    after = saved(run_dir)
    assert after["status"] == "complete"
    assert_keeps(after, before)
