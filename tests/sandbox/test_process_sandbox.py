"""The process sandbox started by root: each program runs as an unprivileged uid of its own, or not at all.

The orchestrator (`selftaught sandbox run --sandbox process`, as root, with a canary OPENAI_API_KEY) runs where the
sandbox uids can reach this interpreter: a bubblewrap mount namespace that exposes it when it lives under a directory
private to root (`reachable_root_prefix`). Where they cannot reach it (a virtualenv in a private directory), the
process sandbox refuses with one line instead of running the program as root.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox_support import SANDBOX_UIDS, SRC_ROOT, program, reachable_root_prefix, report_of
from selftaught.sandbox._run_file import FileRun

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="the process sandbox drops to another uid only as root")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(SRC_ROOT), PYTHONDONTWRITEBYTECODE="1", HOME="/tmp", **extra)
    return env


@pytest.fixture(scope="module")
def prefix() -> list[str]:
    found, why = reachable_root_prefix()
    if found is None:
        pytest.skip(f"cannot make this interpreter reachable for the sandbox uids: {why}")
    return found


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="selftaught-process-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _sandbox_run(prefix: list[str], workdir: Path, source: str, *extra: str,
                 env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    path = workdir / f"candidate-{secrets.token_hex(4)}.py"
    path.write_text(source)
    done = subprocess.run([*prefix, sys.executable, "-m", "selftaught", "sandbox", "run", str(path), "--json",
                           "--sandbox", "process", "--timeout", "20", *extra], capture_output=True, text=True,
                          env=env or _env(), timeout=120)
    data = json.loads(done.stdout) if done.stdout.startswith("{") else {}
    return done, data


def _as_run(data: dict[str, Any]) -> FileRun:
    return FileRun(data["exit_code"], data["signal"], data["limit"], data["output"], data["error"], data["duration"],
                   data["sandbox"]["name"])


ATTACK = '''
    import ctypes, os
    ppid = os.getppid()

    def read(path, address=None):
        with open(path, "rb") as f:
            if address is not None:
                f.seek(address)
                return f.read(len(MINE))
            return f.read()

    tried = {}
    for name, path in (("parent_environ", f"/proc/{ppid}/environ"), ("parent_mem", f"/proc/{ppid}/mem"),
                       ("init_environ", "/proc/1/environ"), ("split_secret", SECRET),
                       ("stderr_capture", os.path.join(os.path.dirname(os.environ["HOME"]), ".stderr"))):
        try:
            data = read(path)
            print(path, data)  # if it were read, the canary would show up in the output
            tried[name] = {"ok": True}
        except OSError as exc:
            tried[name] = {"ok": False, "errno": exc.errno}
    own = read("/proc/self/environ")
    mine = MINE.encode()
    peeked = read("/proc/self/mem", id(mine) + ctypes.sizeof(ctypes.c_ssize_t) * 4)
    status = {l.split(":")[0]: l.split()[1] for l in open("/proc/self/status") if ":" in l and l.split()[1:]}
    with open(os.path.join(os.environ["HOME"], "scratch"), "w") as f:
        f.write("mine")
    report(tried=tried, own_environ="PATH=" in own.decode(), own_mem=peeked == mine, uid=os.getuid(),
           gid=os.getgid(), home_owner=os.stat(os.environ["HOME"]).st_uid, caps=status["CapEff"],
           bounding=status["CapBnd"], nnp=status["NoNewPrivs"], ppid=ppid)
'''


def test_a_candidate_cannot_read_the_root_orchestrators_secrets(prefix: list[str], workdir: Path) -> None:
    canary = f"sk-canary-{secrets.token_hex(8)}"
    secret = workdir / "split-secret"  # like the task-instance secret in root's config directory: mode 0600
    secret.write_text(canary)
    secret.chmod(0o600)
    workdir.chmod(0o755)  # the file's own mode keeps it closed, even in a directory anyone may enter
    done, data = _sandbox_run(prefix, workdir, program(ATTACK, MINE=f"own-bytes-{secrets.token_hex(4)}",
                                                       SECRET=str(secret)), env=_env(OPENAI_API_KEY=canary))
    assert done.returncode == 0, done.stderr
    assert data["sandbox"]["name"] == "process" and "REDUCED ISOLATION" in done.stderr
    seen = report_of(_as_run(data))
    for name in ("parent_environ", "parent_mem", "init_environ", "split_secret"):
        assert seen["tried"][name] == {"ok": False, "errno": errno.EACCES}, (name, seen["tried"])
    # the host's capture of its stderr has no name at all (it was a file beside its home, closed to it)
    assert seen["tried"]["stderr_capture"] == {"ok": False, "errno": errno.ENOENT}, seen["tried"]
    assert canary not in done.stdout and canary not in done.stderr
    # the positive controls: its own /proc entries work, and it is the unprivileged uid, at home in its directory
    assert seen["own_environ"] is True and seen["own_mem"] is True, seen
    assert seen["uid"] in SANDBOX_UIDS and seen["gid"] == seen["uid"] == seen["home_owner"], seen
    assert seen["caps"] == seen["bounding"] == "0000000000000000" and seen["nnp"] == "1", seen


def test_as_the_unprivileged_uid_the_process_limit_binds(prefix: list[str], workdir: Path) -> None:
    done, data = _sandbox_run(prefix, workdir, program('''
        import os, time
        started = 0
        try:
            for _ in range(500):
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                started += 1
        except OSError as exc:
            report(started=started, errno=exc.errno)
        else:
            report(started=started, errno=None)
    '''))
    assert done.returncode == 0, done.stderr
    seen = report_of(_as_run(data))
    assert seen["errno"] == errno.EAGAIN and 0 < seen["started"] < 64, seen  # Limits.processes is 64


def test_sandbox_check_reports_the_uid_drop_and_what_the_process_sandbox_lacks(prefix: list[str]) -> None:
    escape = Path("/usr/selftaught-escape")  # the check's write probe: the unprivileged uid cannot write /usr
    done = subprocess.run([*prefix, sys.executable, "-m", "selftaught", "sandbox", "check", "--sandbox", "process",
                           "--json"], capture_output=True, text=True, env=_env(), timeout=300)
    assert not escape.exists()
    assert done.returncode == 1 and "REDUCED ISOLATION" in done.stderr, done.stderr
    data = json.loads(done.stdout)
    held = {layer["layer"]: layer["verified"] for layer in data["layers"]}
    assert data["ok"] is False and data["sandbox"]["isolated"] is False
    assert held["unprivileged uid"] is True and held["user and capabilities"] is True, data["layers"]
    assert held["environment"] is True and held["processes"] is True, data["layers"]
    assert held["package hidden"] is False and held["network"] is False, data["layers"]
    assert held["filesystem"] is False and held["pid namespace"] is False, data["layers"]


# --- where the sandbox uids cannot reach the interpreter ----------------------------------------------------------


@pytest.fixture(scope="module")
def private_python() -> Iterator[tuple[Path, Path]]:
    """A virtualenv inside a directory only root may enter: (that directory, the virtualenv's python)."""
    private = Path(tempfile.mkdtemp(prefix="selftaught-private-"))  # mode 0700
    venv = private / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True,
                   timeout=120)
    yield private, venv / "bin" / "python"
    shutil.rmtree(private, ignore_errors=True)


@pytest.mark.parametrize("mode", ["process", "auto"])
def test_with_the_interpreter_out_of_reach_it_refuses_in_one_line_instead_of_running_as_root(
    private_python: tuple[Path, Path], workdir: Path, mode: str
) -> None:
    private, python = private_python
    marker = workdir / "ran"
    path = workdir / "candidate.py"
    path.write_text(f"open({str(marker)!r}, 'w').write('ran as root')\n")
    env = _env()
    if mode == "auto":  # no bubblewrap on PATH: auto falls back to the process sandbox, which refuses too
        empty = workdir / "bin"
        empty.mkdir()
        env["PATH"] = str(empty)
    done = subprocess.run([str(python), "-m", "selftaught", "sandbox", "run", str(path), "--sandbox", mode],
                          capture_output=True, text=True, env=env, timeout=120)
    assert (done.returncode, done.stdout, marker.exists()) == (2, "", False), done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("selftaught: error: " + ("" if mode == "process" else
                                                        "full isolation is unavailable (bubblewrap is not installed"))
    assert (f"the process sandbox runs programs as an unprivileged uid ({SANDBOX_UIDS[0]}), which cannot reach the "
            f"Python interpreter {python}: {private} is mode 0700. Fix: let other users reach it (`chmod o+x "
            f"{private}`)") in lines[0]


def test_the_same_program_runs_where_the_interpreter_is_reachable(prefix: list[str], workdir: Path) -> None:
    marker = workdir / "ran"
    done, data = _sandbox_run(prefix, workdir, f"import os\nprint(os.getuid())\nopen({str(marker)!r}, 'w')\n")
    # it ran, as a sandbox uid: which may not write into root's private directory
    assert done.returncode == 1 and int(data["output"].split()[0]) in SANDBOX_UIDS, data
    assert "PermissionError" in data["error"] and not marker.exists(), data


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(os.path.join(entry.path, "cmdline"), "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_daemons_that_leave_the_process_group_end_with_the_program(prefix: list[str], workdir: Path) -> None:
    # Without a PID namespace, `setsid` escapes the worker's process group; the worker's own uid does not.
    marker = f"58.{secrets.randbelow(9000) + 1000}"
    done, data = _sandbox_run(prefix, workdir, program('''
        import subprocess, time
        subprocess.Popen(["setsid", "sleep", MARKER])
        time.sleep(0.3)
        report(started=True)
    ''', MARKER=marker))
    assert done.returncode == 0, done.stderr
    assert report_of(_as_run(data)) == {"started": True}  # it ran, and started its daemon
    assert _processes_with(marker) == []
