"""`transfer` keeps its finished rows when stopped: each task's row is saved as it is finished, Ctrl-C and SIGTERM
stop it within seconds, and the same command run again measures only the tasks it had not finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from selftaught.api import _transfer
from selftaught.cli import main
from selftaught.improver import seed_improver
from support import TEST_SECRET_TEXT, sigint_as_default

ROOT = Path(__file__).resolve().parents[2]
#: Two quick tasks (a few seconds each here) and small budgets.
FLAGS = ["--tasks", "parity_noiseless,str_grid_dist", "--downstream-runs", "2", "--max-responses", "1",
         "--utility-budget", "2", "--lm-budget", "1", "--seed", "4"]
OUTPUT_KEYS = ["improver", "rows", "formulation", "counters", "sandbox", "usage", "split_secret", "warnings"]


@pytest.fixture
def improver(tmp_path: Path) -> Path:
    path = tmp_path / "I_0.py"
    path.write_text(seed_improver())
    return path


def transfer_json(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> tuple[dict[str, Any], str]:
    assert main(["transfer", *argv, "--json"]) == status
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return (json.loads(out) if out else {}), err


def test_a_transfer_stopped_after_a_row_resumes_from_it_and_ends_as_an_uninterrupted_one(
    tmp_path: Path, improver: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, _ = transfer_json(capsys, str(improver), *FLAGS, "--out", str(tmp_path / "whole.json"))
    assert list(whole) == OUTPUT_KEYS and [r["task"] for r in whole["rows"]] == ["parity_noiseless", "str_grid_dist"]
    out = tmp_path / "stopped.json"
    real_add = _transfer.TransferFile.add

    def add_then_ctrl_c(self: _transfer.TransferFile, *args: Any) -> None:
        if not self.rows:  # Ctrl-C right after the first row is saved: a row finished later is not
            real_add(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(_transfer.TransferFile, "add", add_then_ctrl_c)
    assert main(["transfer", str(improver), *FLAGS, "--out", str(out), "--json"]) == 130
    err = capsys.readouterr().err
    assert f"transfer stopped; its 1 finished row(s) are saved in {out}" in err
    saved = json.loads(out.read_text())
    (first,) = saved["rows"]
    assert saved["complete"] is False and saved["sessions"][-1]["stopped"] == "interrupted"
    assert first == next(r for r in whole["rows"] if r["task"] == first["task"])
    monkeypatch.setattr(_transfer.TransferFile, "add", real_add)
    resumed, err = transfer_json(capsys, str(improver), *FLAGS, "--out", str(out))
    assert f"reusing 1 finished row(s) ({first['task']}) saved in {out}" in err
    assert list(resumed) == OUTPUT_KEYS  # the --json object keeps its shape
    assert resumed["rows"] == whole["rows"]  # in task order, the reused one as it was measured
    assert 0 < resumed["usage"]["calls"] < whole["usage"]["calls"]  # the reused row's task was not measured again
    final = json.loads(out.read_text())
    assert final["complete"] is True and final["rows"] == whole["rows"]
    assert [(s["measured"], s["reused"]) for s in final["sessions"]] == [
        ([first["task"]], []), ([r["task"] for r in whole["rows"] if r["task"] != first["task"]], [first["task"]])]


def test_transfer_resume_file_continues_with_what_the_file_was_run_with(
    tmp_path: Path, improver: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`transfer --resume FILE` needs nothing but the file: the improver, config and tasks are in it; it refuses a
    setting that would change the rows, and a file that is complete."""
    whole, _ = transfer_json(capsys, str(improver), *FLAGS, "--out", str(tmp_path / "whole.json"))
    out = tmp_path / "stopped.json"
    real_add = _transfer.TransferFile.add

    def add_then_ctrl_c(self: _transfer.TransferFile, *args: Any) -> None:
        if not self.rows:
            real_add(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(_transfer.TransferFile, "add", add_then_ctrl_c)
    assert main(["transfer", str(improver), *FLAGS, "--out", str(out)]) == 130
    assert f"selftaught transfer --resume {out}" in capsys.readouterr().err
    monkeypatch.setattr(_transfer.TransferFile, "add", real_add)
    improver.write_text("this file is not read again")
    _, err = transfer_json(capsys, "--resume", str(out), "--downstream-runs", "3", status=2)
    assert "--downstream-runs differs from the transfer saved in" in err
    resumed, err = transfer_json(capsys, "--resume", str(out), "--max-calls", "1000")  # a cap may change
    assert "reusing 1 finished row(s)" in err
    assert resumed["rows"] == whole["rows"]
    assert json.loads(out.read_text())["complete"] is True
    _, err = transfer_json(capsys, "--resume", str(out), status=2)
    assert "is complete: there is nothing to resume" in err
    _, err = transfer_json(capsys, "--resume", str(tmp_path / "nothing.json"), status=2)
    assert "no transfer results file" in err


def test_rows_are_reused_only_for_the_same_arguments_and_task_code(
    tmp_path: Path, improver: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.json"
    one = ["--tasks", "parity_noiseless", *FLAGS[2:]]
    first, _ = transfer_json(capsys, str(improver), *one, "--out", str(out))
    again, err = transfer_json(capsys, str(improver), *one, "--workers", "1", "--out", str(out))  # how, not what
    assert "reusing 1 finished row(s) (parity_noiseless)" in err
    assert again["rows"] == first["rows"] and again["usage"]["calls"] == 0
    saved = json.loads(out.read_text())
    assert saved["usage"] == first["usage"]  # the file keeps the output of the invocation that measured
    before = out.read_bytes()
    _, err = transfer_json(capsys, str(improver), *one, "--seed", "5", "--out", str(out), status=2)
    assert err.strip() == (f"selftaught: error: {out} holds the rows of another transfer (another improver, "
                           "config, split secret or selftaught version): give --out another file, or delete it "
                           "to measure anew")
    assert out.read_bytes() == before


@pytest.mark.parametrize(("content", "message"), [
    (b"\x81 not json", "is not a transfer results file (not valid JSON): move it aside, or give --out another file"),
    (b'{"improver": "x.py", "rows": []}', "is not a transfer results file written by `selftaught transfer` (it has "
                                         "no transfer_key)"),
    (None, "is a directory: give a file, e.g. "),
], ids=["garbage", "plain-transfer-json", "directory"])
def test_an_out_file_that_is_not_a_transfer_results_file_is_refused_untouched(
    tmp_path: Path, improver: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    out = tmp_path / "out.json"
    if content is None:
        out.mkdir()
    else:
        out.write_bytes(content)
    _, err = transfer_json(capsys, str(improver), *FLAGS, "--out", str(out), status=2)
    assert err.startswith(f"selftaught: error: --out {out} {message}" if content is None else
                          f"selftaught: error: {out} {message}")
    assert len(err.splitlines()) == 1
    assert out.is_dir() if content is None else out.read_bytes() == content


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_and_sigterm_stop_a_transfer_within_seconds_keeping_its_finished_rows(
    tmp_path: Path, improver: Path, signum: int, code: int
) -> None:
    """maxcut takes far longer than parity_noiseless: the signal comes while it is measured, after the other row."""
    out = tmp_path / "t.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SELFTAUGHT_SPLIT_SECRET": TEST_SECRET_TEXT}
    argv = [sys.executable, "-m", "selftaught", "transfer", str(improver), "--tasks", "parity_noiseless,maxcut",
            *FLAGS[2:], "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=sigint_as_default)
    deadline = time.monotonic() + 120
    while not out.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == code, err[-2000:]
    assert took < 5, f"stopping took {took:.1f}s"
    assert f"continue it with: selftaught transfer --resume {out}" in err
    saved = json.loads(out.read_text())
    assert [r["task"] for r in saved["rows"]] == ["parity_noiseless"] and saved["complete"] is False
    assert saved["sessions"][-1]["stopped"] == "interrupted"
