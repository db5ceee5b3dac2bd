"""When bubblewrap cannot isolate: a diagnosis with a fix, a loud fallback in auto mode, a refusal in strict mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from selftaught.errors import UserError
from selftaught.sandbox import select_sandbox
from selftaught.sandbox._run_file import run_file
from selftaught.sandbox._select import diagnose

DATA = Path(__file__).resolve().parent.parent / "data"
DEBIAN_NO_USERNS = (
    "bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user "
    "namespaces. See <https://deb.li/bubblewrap> or <file:///usr/share/doc/bubblewrap/README.Debian.gz>."
)
UPSTREAM_NO_USERNS = (
    "bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged "
    "user namespaces. On e.g. debian this can be enabled with 'sysctl kernel.unprivileged_userns_clone=1'."
)


# --- diagnose(): bubblewrap's failure, explained -----------------------------------------------------------------


def test_an_apparmor_denial_names_both_fixes() -> None:
    reason, fix = diagnose("bwrap: setting up uid map: Permission denied\n")
    assert "AppArmor" in reason
    assert "bwrap-userns-restrict" in fix and "kernel.apparmor_restrict_unprivileged_userns" in fix


@pytest.mark.parametrize("stderr", [
    DEBIAN_NO_USERNS,
    pytest.param(UPSTREAM_NO_USERNS, id="upstream"),
    "bwrap: Creating new namespace failed: Operation not permitted",
], ids=lambda s: s[:20])
def test_missing_user_namespaces_are_named_with_the_sysctl_fix(stderr: str) -> None:
    reason, fix = diagnose(stderr)
    assert reason.startswith("user namespaces are unavailable"), reason
    assert "unprivileged_userns_clone" in fix or "max_user_namespaces" in fix


@pytest.mark.parametrize("stderr", [
    f"bwrap: execvp {sys.executable}: Permission denied",
    f"setpriv: failed to execute {sys.executable}: Permission denied",
    "PermissionError: [Errno 13] Permission denied: '/opt/py/lib/python3.11/site-packages/numpy/__init__.py'",
])
def test_an_unreadable_interpreter_gets_the_chmod_fix(stderr: str) -> None:
    reason, fix = diagnose(stderr)
    assert "cannot read the Python installation" in reason and sys.base_prefix in reason
    assert f"chmod -R o+rX {sys.base_prefix}" in fix


def test_an_unknown_failure_points_to_sandbox_check() -> None:
    reason, fix = diagnose("bwrap: something new went wrong\n")
    assert "something new went wrong" in reason and "selftaught sandbox check" in fix


# --- no bubblewrap on PATH --------------------------------------------------------------------------------------


@pytest.fixture
def without_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """PATH without bubblewrap (for this process and for CLI subprocesses); select_sandbox forgets its cache."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    select_sandbox.cache_clear()
    yield dict(os.environ)
    select_sandbox.cache_clear()


def test_auto_falls_back_to_the_process_sandbox_with_a_loud_warning(without_bwrap: dict[str, str]) -> None:
    choice = select_sandbox("auto")
    assert choice.sandbox.name == "process" and not choice.sandbox.isolated
    assert choice.warning is not None
    assert "REDUCED ISOLATION" in choice.warning and "bubblewrap is not installed" in choice.warning
    assert "apt-get install bubblewrap" in choice.warning and "--sandbox strict" in choice.warning
    assert choice.reason == "bubblewrap is not installed" and choice.fix and "bubblewrap" in choice.fix
    run = run_file(choice.sandbox, "print('still runs')\n", timeout=10)  # reduced, but it works
    assert run.exit_code == 0 and "still runs" in run.output


def test_strict_refuses_without_bubblewrap(without_bwrap: dict[str, str]) -> None:
    with pytest.raises(UserError, match="bubblewrap is not installed") as refused:
        select_sandbox("strict")
    assert "apt-get install bubblewrap" in str(refused.value)


def _cli(env: dict[str, str], *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "selftaught", *argv], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_score_without_bubblewrap_warns_on_stderr_and_still_scores(without_bwrap: dict[str, str]) -> None:
    done = _cli(without_bwrap, "score", "lpn", str(DATA / "parity_solver.py"), "--json")
    assert done.returncode == 0, done.stderr
    assert "REDUCED ISOLATION" in done.stderr and "apt-get install bubblewrap" in done.stderr
    data = json.loads(done.stdout)
    assert data["sandbox"]["name"] == "process" and data["sandbox"]["isolated"] is False
    assert data["task"] == "parity_noise" and data["score"] > 0.9


def test_strict_score_without_bubblewrap_exits_with_one_error_line(without_bwrap: dict[str, str]) -> None:
    done = _cli(without_bwrap, "score", "lpn", str(DATA / "parity_solver.py"), "--sandbox", "strict")
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("selftaught: error:"), done.stderr
    assert "bubblewrap" in lines[0] and "Fix:" in lines[0]


def test_sandbox_check_detects_the_weaker_sandbox(without_bwrap: dict[str, str]) -> None:
    escape = Path("/usr/selftaught-escape")  # the check's own write probe: it lands on the host here (as root)
    existed = escape.exists()
    try:
        done = _cli(without_bwrap, "sandbox", "check", "--sandbox", "process", "--json")
    finally:
        if not existed and escape.exists():
            escape.unlink()
    assert done.returncode != 0, done.stdout
    assert "REDUCED ISOLATION" in done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is False and data["sandbox"]["isolated"] is False
    held = {layer["layer"]: layer["verified"] for layer in data["layers"]}
    assert held["network"] is False and held["filesystem"] is False and held["pid namespace"] is False, held
    assert held["environment"] is True, held  # the scrubbed environment is the one layer a process keeps
