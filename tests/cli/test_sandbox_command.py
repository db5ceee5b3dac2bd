"""`selftaught sandbox run` reports how a file ended; `sandbox check` verifies every layer here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = main([*argv, "--json"])
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return status, data


@pytest.mark.parametrize(
    ("source", "exit_code", "limit"),
    [
        ("print('hello from inside')\nraise SystemExit(3)\n", 3, None),
        ("while True:\n    pass\n", None, "timeout"),
        ("x = bytearray(4 * 1024 ** 3)\n", 1, "memory"),
        ("import os\nwhile True:\n    os.fork()\n", 1, "processes"),
    ],
)
def test_sandbox_run_reports_exit_status_output_and_the_limit_that_ended_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, exit_code: int | None, limit: str | None
) -> None:
    path = tmp_path / "prog.py"
    path.write_text(source)
    status, data = run_json(capsys, "sandbox", "run", str(path), "--timeout", "2", "--memory", "512")
    assert status == 0
    assert data["exit_code"] == exit_code and data["limit"] == limit
    assert data["sandbox"]["name"] == "bwrap" and data["sandbox"]["isolated"] is True
    if exit_code == 3:
        assert "hello from inside" in data["output"]


def test_sandbox_check_verifies_every_layer_by_trying_it(capsys: pytest.CaptureFixture[str]) -> None:
    status, data = run_json(capsys, "sandbox", "check")
    layers = {layer["layer"]: layer for layer in data["layers"]}
    assert {"network", "filesystem", "environment", "processes", "memory", "disk", "seccomp",
            "pid namespace", "user and capabilities"} <= set(layers)
    assert data["ok"] is True and status == 0, [x for x in data["layers"] if not x["verified"]]
