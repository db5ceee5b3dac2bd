"""Everyday mistakes around a run directory get one line naming the file and the fix (exit 2), never a traceback;
a run directory is complete enough to be listed and resumed, or not created; garbage in a log is skipped."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main
from support import TEST_SECRET_TEXT

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--iterations", "1", "--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "3",
         "--meta-utility-budget", "2", "--lm-budget", "2", "--seed", "3"]
#: A provider backend (it opens the LM cache as the command starts; no request is ever made here).
PROVIDER = ["--lm", "openai:test-model", "--base-url", "http://127.0.0.1:9"]


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("selftaught:")]
    assert len(lines) == 1 and lines[0].startswith("selftaught: error: "), err
    assert "Traceback" not in err
    return lines[0]


def files(run_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def not_a_database(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a cache\n")
    return path, f"LM cache {path} is not an SQLite database (file is not a database): move it aside"


def a_directory(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path, f"LM cache {tmp_path} is a directory, not a cache file: give --cache-path a file, e.g. "


def under_a_file(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "plain-file").write_text("")
    path = tmp_path / "plain-file" / "cache.sqlite"
    return path, f"LM cache {path} cannot be created: {tmp_path / 'plain-file'} is a file, not a directory"


@pytest.mark.parametrize("bad_path", [a_directory, not_a_database, under_a_file],
                         ids=["a-directory", "not-a-database", "under-a-file"])
def test_an_unusable_cache_path_is_one_line_and_leaves_no_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    bad_path: Callable[[Path], tuple[Path, str]]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    path, message = bad_path(tmp_path)
    runs = tmp_path / "runs"
    line = one_error_line(capsys, ["run", *FLAGS, *PROVIDER, "--cache-path", str(path), "--runs-dir", str(runs)])
    assert line.startswith(f"selftaught: error: {message}")
    assert not runs.exists() or list(runs.iterdir()) == []  # no run directory without a manifest
    line = one_error_line(capsys, ["improve", "lpn", *PROVIDER, "--cache-path", str(path)])
    assert line.startswith(f"selftaught: error: {message}")


def test_an_unusable_default_cache_directory_names_xdg_cache_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    (tmp_path / "cache-home").write_text("")  # a file where the cache directory should be
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    runs = tmp_path / "runs"
    line = one_error_line(capsys, ["run", *FLAGS, *PROVIDER, "--runs-dir", str(runs)])
    assert f"LM cache {tmp_path / 'cache-home' / 'selftaught' / 'lm-cache.sqlite'} cannot be created" in line
    assert line.endswith("set XDG_CACHE_HOME to a writable directory, or pass --cache-path FILE (or --cache off)")
    assert not runs.exists() or list(runs.iterdir()) == []


def read_only_mount_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not read_only_mount_works(), reason="needs unshare and mount (user namespaces) for a ro tmpfs")
def test_a_cache_on_a_read_only_file_system_is_one_line(tmp_path: Path) -> None:
    """A read-only tmpfs in a private mount namespace (root ignores file permissions, not a read-only mount)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SELFTAUGHT_SPLIT_SECRET": TEST_SECRET_TEXT,
           "OPENAI_API_KEY": "test-key", "XDG_CACHE_HOME": str(ro)}
    base = f"{sys.executable} -m selftaught improve lpn {' '.join(PROVIDER)}"
    script = f"mount -t tmpfs -o ro tmpfs {ro} && {base}; {base} --cache-path {ro / 'mine.sqlite'}"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=env,
                          timeout=120)
    lines = done.stderr.splitlines()
    assert "Traceback" not in done.stderr and len(lines) == 2, done.stderr
    assert lines[0] == (f"selftaught: error: LM cache {ro / 'selftaught' / 'lm-cache.sqlite'} cannot be created: its "
                        "directory cannot be made (Read-only file system): this is the default cache file: set "
                        "XDG_CACHE_HOME to a writable directory, or pass --cache-path FILE (or --cache off)")
    assert lines[1] == (f"selftaught: error: LM cache {ro / 'mine.sqlite'} cannot be opened for writing (unable to "
                        "open database file): give --cache-path a file in a writable directory (or --cache off)")


def capped_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A run stopped by --max-calls after I_0 (resumable with a higher cap)."""
    assert main(["run", *FLAGS, "--runs-dir", str(tmp_path / "runs"), "--max-calls", "5"]) == 0
    capsys.readouterr()
    (run_dir,) = (tmp_path / "runs").iterdir()
    return run_dir


def test_resume_refuses_a_journal_overwritten_with_garbage_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = capped_run(tmp_path, capsys)
    journal = run_dir / "lm-cache.sqlite"
    journal.write_bytes(os.urandom(4096))
    before = files(run_dir)
    line = one_error_line(capsys, ["run", "--resume", str(run_dir), "--max-calls", "100"])
    assert line.startswith(f"selftaught: error: {journal}, the run's LM journal, is not a readable SQLite database")
    assert "move it aside to resume without it" in line
    assert files(run_dir) == before
    journal.rename(run_dir / "lm-cache.damaged")  # what the message says to do: the run resumes, calling again
    assert main(["run", "--resume", str(run_dir), "--max-calls", "100", "--json"]) == 0
    summary: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert summary["status"] == "complete" and summary["sessions"][-1]["replayed_lm_calls"] == 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    runs = tmp_path_factory.mktemp("uninterrupted")  # (set up before conftest puts the tests' secret in the env)
    assert main(["run", *FLAGS, "--runs-dir", str(runs), "--split-secret", TEST_SECRET_TEXT]) == 0
    (run_dir,) = runs.iterdir()
    return dict(json.loads((run_dir / "summary.json").read_text()))


def test_binary_garbage_appended_to_the_logs_is_skipped_reported_and_the_run_ends_as_it_would_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], uninterrupted: dict[str, Any]
) -> None:
    run_dir = capped_run(tmp_path, capsys)
    garbage = b"\xaf\xfe\x00\xff binary \n\x81\x82\n" + os.urandom(64).replace(b"\n", b"")
    for name in ("evaluations.jsonl", "events.jsonl"):
        with open(run_dir / name, "ab") as f:
            f.write(garbage)
    assert main(["run", "--resume", str(run_dir), "--max-calls", "100", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "skipped unreadable lines of the run's logs (garbage in the file; left in place): 2 of events.jsonl, " \
           "2 of evaluations.jsonl" in err
    summary = json.loads(out)
    assert summary["sessions"][-1]["skipped_lines"] == {"events.jsonl": 2, "evaluations.jsonl": 2}
    assert summary["sessions"][-1]["reused_evaluations"] > 0
    assert summary["iterations"] == uninterrupted["iterations"]
    assert summary["usage"]["calls"] == uninterrupted["usage"]["calls"]
