"""`selftaught sandbox run` exits as the program did and says what ended it; `sandbox check` verifies every layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main
from selftaught.sandbox import MIN_MEMORY_MB

CPU_HOG = """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
resource.setrlimit(resource.RLIMIT_CPU, (1, hard))
while True:
    pass
"""
BIG_FILE = """
with open('/tmp/big', 'wb') as f:
    f.seek(100 << 20)
    f.write(b'x')
"""


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = main([*argv, "--json"])
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return status, data


@pytest.mark.parametrize(
    ("source", "exit_code", "limit", "status"),
    [
        pytest.param("print('hello from inside')\n", 0, None, 0, id="exits_0"),
        pytest.param("print('hello from inside')\nraise SystemExit(3)\n", 3, None, 3, id="exits_3"),
        pytest.param("raise ValueError('no')\n", 1, None, 1, id="raises"),
        pytest.param("while True:\n    pass\n", None, "timeout", 124, id="timeout"),
        pytest.param("x = bytearray(4 * 1024 ** 3)\n", 1, "memory", 122, id="memory"),
        pytest.param("import os\nwhile True:\n    os.fork()\n", 1, "processes", 123, id="processes"),
        pytest.param("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", None, None, 137, id="killed"),
        pytest.param(CPU_HOG, None, "cpu", 152, id="cpu"),
        pytest.param(BIG_FILE, 1, "file_size", 153, id="file_size"),
    ],
)
def test_sandbox_run_exits_with_the_programs_status_or_the_code_of_the_limit_that_ended_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, exit_code: int | None, limit: str | None,
    status: int,
) -> None:
    path = tmp_path / "prog.py"
    path.write_text(source)
    # The CPU case needs one second of CPU before the (wall-clock) timeout: on a busy machine (two CPU-bound
    # processes per core beside it) that second took about 5 s of wall clock, so it gets room; the rest end
    # long before 3 s or are meant to reach it.
    timeout = "60" if limit == "cpu" else "3"
    returned, data = run_json(capsys, "sandbox", "run", str(path), "--timeout", timeout, "--memory", "512")
    assert (returned, data["status"]) == (status, status), data
    assert data["exit_code"] == exit_code and data["limit"] == limit, data
    assert data["sandbox"]["name"] == "bwrap" and data["sandbox"]["isolated"] is True
    if source.startswith("print"):
        assert "hello from inside" in data["output"]


def test_the_help_of_sandbox_run_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "122 memory, 123 processes, 124 timeout, 152 cpu, 153 file_size" in text
    assert "128 + the signal (137: SIGKILL" in text


@pytest.mark.parametrize("argv", [
    pytest.param(["sandbox", "run", "PROGRAM", "--memory", "100"], id="sandbox_run"),
    pytest.param(["improve", "lpn", "--memory-mb", "100"], id="improve"),
])
def test_a_memory_limit_too_small_for_a_worker_is_refused_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    path = tmp_path / "prog.py"
    path.write_text("print('never runs')\n")
    argv = [str(path) if a == "PROGRAM" else a for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    flag = argv[-2]
    assert captured.out == "" and "REDUCED ISOLATION" not in captured.err  # no change of sandbox either
    assert [line for line in captured.err.splitlines() if line.startswith("selftaught:")] == [
        f"selftaught: error: {flag} 100 is too small for a worker to start (a worker that imports numpy needs at "
        f"least {MIN_MEMORY_MB} MB of address space)"
    ]


def test_the_smallest_accepted_memory_limit_runs_numpy_in_the_isolating_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "prog.py"
    path.write_text("import numpy\nprint(int(numpy.arange(10).sum()))\n")
    status, data = run_json(capsys, "sandbox", "run", str(path), "--memory", str(MIN_MEMORY_MB))
    assert status == 0 and data["output"].strip() == "45", data
    assert data["sandbox"]["name"] == "bwrap"


def test_sandbox_check_verifies_every_layer_by_trying_it(capsys: pytest.CaptureFixture[str]) -> None:
    status, data = run_json(capsys, "sandbox", "check")
    layers = {layer["layer"]: layer for layer in data["layers"]}
    assert {"network", "filesystem", "environment", "processes", "memory", "disk", "seccomp",
            "pid namespace", "user and capabilities", "package hidden"} <= set(layers)
    assert "unprivileged uid" not in layers  # a layer of the process sandbox only
    assert data["ok"] is True and status == 0, [x for x in data["layers"] if not x["verified"]]


@pytest.mark.parametrize(
    ("flag", "needle"),
    [("--timeout=nan", "--timeout must be a positive, finite number"),
     ("--timeout=inf", "--timeout must be a positive, finite number"),
     ("--timeout=-1", "--timeout must be a positive, finite number"),
     ("--memory=99999999999", "--memory must be at most")],
)
def test_sandbox_run_refuses_non_finite_and_absurd_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, needle: str
) -> None:
    path = tmp_path / "prog.py"
    path.write_text("print('never runs')\n")
    assert main(["sandbox", "run", str(path), flag]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("selftaught:")]
    assert len(lines) == 1 and lines[0].startswith(f"selftaught: error: {needle}") and "Traceback" not in err
