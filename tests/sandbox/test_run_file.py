"""`run_file` (and `selftaught sandbox run`) say what really ended a program, and say when its output was cut."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.sandbox import BwrapSandbox, Limits, WarmPool
from selftaught.sandbox._run_file import run_file

MB = 1 << 20
SELF_KILL = "import os, signal\nprint('before', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"
# The memory cgroup's limit is reached by two processes together (each within its own address-space limit): the
# kernel's out-of-memory killer picks the larger, the program itself.
OOM = """
import subprocess, sys
big = bytearray(250 << 20)
big[::4096] = b"x" * len(big[::4096])
child = "b = bytearray(150 << 20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(5)"
subprocess.run([sys.executable, "-c", child])
print("survived", flush=True)
"""
BURN = "import signal\n{ignore}\nwhile True:\n    pass\n"


@pytest.fixture(scope="module")
def bwrap() -> BwrapSandbox:
    sandbox = BwrapSandbox(Limits(memory_mb=400, cpu_seconds=1))
    if os.getuid() != 0 or sandbox.setpriv is None:
        pytest.skip("these tests run as root (bubblewrap with a sandbox uid per worker)")
    return sandbox


@pytest.fixture(scope="module", params=["cold", "warm"])
def sandbox(request: pytest.FixtureRequest, bwrap: BwrapSandbox) -> Iterator[BwrapSandbox | WarmPool]:
    if request.param == "cold":
        yield bwrap
    else:
        with WarmPool(bwrap, size=1) as warm:
            yield warm


def test_a_program_that_kills_itself_was_ended_by_its_signal_not_by_a_limit(sandbox: BwrapSandbox | WarmPool) -> None:
    run = run_file(sandbox, SELF_KILL, timeout=10)
    assert "before" in run.output
    assert (run.signal, run.limit, run.exit_code, run.status) == (9, None, None, 137), run
    assert run.ending.startswith("killed by SIGKILL (signal 9), which no limit of the sandbox sent"), run.ending


def test_the_memory_cgroups_out_of_memory_killer_is_the_memory_limit(sandbox: BwrapSandbox | WarmPool) -> None:
    if not (sandbox.sandbox if isinstance(sandbox, WarmPool) else sandbox).cgroups.available:
        pytest.skip("no writable memory cgroup here")
    run = run_file(sandbox, OOM, timeout=20)
    assert "survived" not in run.output
    assert (run.signal, run.limit, run.status) == (9, "memory", 122), run
    assert "memory cgroup (400 MB for all its processes) killed 1 of its processes" in run.error, run.error
    assert run.ending == "ended by the memory limit"


@pytest.mark.parametrize("ignore", [False, True])
def test_the_cpu_limit_is_reported_whether_or_not_the_program_ignores_sigxcpu(
        sandbox: BwrapSandbox | WarmPool, ignore: bool) -> None:
    # RLIMIT_CPU: SIGXCPU at the soft limit (1 s); a program that ignores it gets SIGKILL a second later.
    source = BURN.format(ignore="signal.signal(signal.SIGXCPU, signal.SIG_IGN)" if ignore else "")
    run = run_file(sandbox, source, timeout=30)
    assert (run.signal, run.limit, run.status) == (9 if ignore else 24, "cpu", 152), run


def test_a_program_that_kills_itself_after_using_cpu_below_the_limit_is_not_the_cpu_limit(
        sandbox: BwrapSandbox | WarmPool) -> None:
    source = ("import os, signal, time\ns = time.process_time()\nwhile time.process_time() - s < 0.3:\n    pass\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    run = run_file(sandbox, source, timeout=30)
    assert (run.signal, run.limit) == (9, None), run


def test_output_past_the_cap_is_cut_at_its_start_and_says_how_much(sandbox: BwrapSandbox | WarmPool) -> None:
    kept = sandbox.limits.output_kb * 1024
    source = "for i in range(2000):\n    print(f'{i:06d}' + 'x' * 93)\nprint('the end')\n"
    run = run_file(sandbox, source, timeout=10)
    printed = 2000 * 100 + len("the end\n")
    assert run.output_cut == printed - kept and len(run.output.encode()) == kept, (run.output_cut, len(run.output))
    assert run.output.endswith("001999" + "x" * 93 + "\nthe end\n")
    short = run_file(sandbox, "print('all of it')\n", timeout=10)
    assert short.output == "all of it\n" and short.output_cut == 0


def test_sandbox_run_marks_cut_output_and_names_the_signal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.getuid() != 0:
        pytest.skip("the CLI's bubblewrap sandbox is tried as root here")
    chatty = tmp_path / "chatty.py"
    chatty.write_text("for i in range(1000):\n    print('y' * 99)\nprint('the end')\n")
    assert main(["sandbox", "run", str(chatty), "--sandbox", "strict"]) == 0
    lines = capsys.readouterr().out.splitlines()
    cut = 1000 * 100 + len("the end\n") - Limits.output_kb * 1024
    assert lines[0] == f"[selftaught: the first {cut} bytes of the output were cut here; the last 64 KiB follow]"
    assert lines[-2] == "the end" and lines[-1].endswith(f"(the first {cut} bytes of its output were cut)"), lines[-1]
    assert main(["sandbox", "run", str(chatty), "--sandbox", "strict", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output_cut"] == cut and data["output"].endswith("the end\n") and data["ended"] == "exit status 0"
    killer = tmp_path / "killer.py"
    killer.write_text(SELF_KILL)
    assert main(["sandbox", "run", str(killer), "--sandbox", "strict"]) == 137
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"--- {killer}: killed by SIGKILL (signal 9), which no limit of the sandbox sent"), last
