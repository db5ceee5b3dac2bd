"""When bubblewrap cannot isolate: a diagnosis with a fix, a loud fallback in auto mode, a refusal in strict mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_support import SRC_ROOT, reachable_root_prefix
from selftaught.errors import UserError
from selftaught.sandbox import select_sandbox
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


@pytest.fixture(scope="module")
def orchestrator() -> list[str]:
    """How to start an orchestrator whose process sandbox can run: as root, where its unprivileged uids reach this
    interpreter (else it refuses, see test_process_sandbox.py); as a user, as it is."""
    if os.getuid() != 0:
        return []
    prefix, why = reachable_root_prefix()
    if prefix is None:
        pytest.skip(f"the process sandbox's uids cannot reach this interpreter: {why}")
    return prefix


def test_auto_falls_back_to_the_process_sandbox_with_a_loud_warning(
    without_bwrap: dict[str, str], orchestrator: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "prog.py"
    path.write_text("print('still runs')\n")
    path.chmod(0o644)
    done = _cli(without_bwrap, "sandbox", "run", str(path), "--json", prefix=orchestrator)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["sandbox"]["name"] == "process" and data["sandbox"]["isolated"] is False
    assert data["exit_code"] == 0 and "still runs" in data["output"]  # reduced, but it works
    warning = data["sandbox"]["warning"]
    assert warning.startswith("WARNING: REDUCED ISOLATION: bubblewrap is not installed.") and warning in done.stderr
    assert "apt-get install bubblewrap" in warning and "--sandbox strict" in warning
    for missing in ("a filesystem view of its own", "the selftaught package", "a network namespace",
                    "a PID namespace", "the seccomp filter"):
        assert missing in warning, missing
    if os.getuid() == 0:
        assert "as an unprivileged uid of its own" in warning


def test_strict_refuses_without_bubblewrap(without_bwrap: dict[str, str]) -> None:
    with pytest.raises(UserError, match="bubblewrap is not installed") as refused:
        select_sandbox("strict")
    assert "apt-get install bubblewrap" in str(refused.value)


def _cli(env: dict[str, str], *argv: str, prefix: list[str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**env, "PYTHONPATH": str(SRC_ROOT), "HOME": "/tmp"}
    return subprocess.run([*(prefix or []), sys.executable, "-m", "selftaught", *argv], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_score_without_bubblewrap_warns_on_stderr_and_still_scores(
    without_bwrap: dict[str, str], orchestrator: list[str]
) -> None:
    done = _cli(without_bwrap, "score", "lpn", str(DATA / "parity_solver.py"), "--json", prefix=orchestrator)
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


def test_sandbox_check_detects_the_weaker_sandbox(without_bwrap: dict[str, str], orchestrator: list[str]) -> None:
    escape = Path("/usr/selftaught-escape")  # the check's own write probe: it would land on the host here
    existed = escape.exists()
    try:
        done = _cli(without_bwrap, "sandbox", "check", "--sandbox", "process", "--json", prefix=orchestrator)
    finally:
        if not existed and escape.exists():
            escape.unlink()
    assert done.returncode != 0, done.stdout
    assert "REDUCED ISOLATION" in done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is False and data["sandbox"]["isolated"] is False
    held = {layer["layer"]: layer["verified"] for layer in data["layers"]}
    assert held["network"] is False and held["filesystem"] is False and held["pid namespace"] is False, held
    assert held["package hidden"] is False, held  # a plain process sees the installed package
    assert held["environment"] is True, held  # the scrubbed environment holds in a plain process too
