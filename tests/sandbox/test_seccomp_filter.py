"""The seccomp filter: well-formed BPF, the right numbers, and inside bwrap it refuses what it should and only that."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from selftaught.sandbox import _seccomp

SUPPORTED = {"x86_64": (0xC000003E, _seccomp._X86_64), "aarch64": (0xC00000B7, _seccomp._AARCH64)}

RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_EPERM = 0x00050000 | 1
RET_ENOSYS = 0x00050000 | 38
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
CLONE_VM_THREAD_FLAGS = 0x003D0F00  # what glibc's pthread_create passes to clone()
SIGCHLD = 17
ADDR_NO_RANDOMIZE = 0x0040000


def _insns(prog: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack_from("=HBBI", prog, i) for i in range(0, len(prog), 8)]


def _run_bpf(prog: bytes, *, nr: int, arch: int, arg0: int = 0, arg1: int = 0) -> int:
    """A tiny classic-BPF interpreter (only the opcodes a seccomp filter of ours may use)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, arg1, 0, 0, 0, 0)
    insns = _insns(prog)
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # LD W ABS
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code == 0x15:  # JEQ K
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x35:  # JGE K
            pc += 1 + (jt if acc >= k else jf)
        elif code == 0x45:  # JSET K
            pc += 1 + (jt if acc & k else jf)
        elif code == 0x06:  # RET K
            return int(k)
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc}")


# --- the program itself -------------------------------------------------------------------------------------


@pytest.mark.parametrize("machine", sorted(SUPPORTED))
def test_program_is_whole_instructions_starting_with_the_arch_check_and_jumps_stay_inside(machine: str) -> None:
    prog = _seccomp.build_filter(machine)
    assert prog is not None
    assert len(prog) % 8 == 0
    insns = _insns(prog)
    assert len(insns) <= 4096  # BPF_MAXINSNS
    audit_arch = SUPPORTED[machine][0]
    assert insns[0] == (0x20, 0, 0, 4)  # load seccomp_data.arch
    assert insns[1][0] == 0x15 and insns[1][3] == audit_arch
    assert insns[2] == (0x06, 0, 0, RET_KILL_PROCESS)
    for pc, (code, jt, jf, _) in enumerate(insns):
        if code & 0x07 == 0x05:  # BPF_JMP
            assert pc + 1 + max(jt, jf) < len(insns), f"jump at {pc} leaves the program"
    assert insns[-1] == (0x06, 0, 0, RET_ALLOW)


@pytest.mark.parametrize("machine", ["i686", "armv7l", "riscv64", "ppc64le", "s390x", "aarch64_be", ""])
def test_unsupported_machine_gets_no_filter(machine: str) -> None:
    assert _seccomp.build_filter(machine) is None
    assert _seccomp.describe(machine)["supported"] is False


def test_default_machine_is_this_one() -> None:
    expected = _seccomp.build_filter(platform.machine())
    assert _seccomp.build_filter() == expected


@pytest.mark.parametrize("machine", sorted(SUPPORTED))
def test_interpreted_program_refuses_denied_numbers_and_allows_the_rest(machine: str) -> None:
    audit_arch, table = SUPPORTED[machine]
    prog = _seccomp.build_filter(machine)
    assert prog is not None
    for name in _seccomp.DENIED:
        if name in table:
            assert _run_bpf(prog, nr=table[name], arch=audit_arch) == RET_EPERM, name
    assert _run_bpf(prog, nr=table["clone3"], arch=audit_arch) == RET_ENOSYS
    refused = {table[n] for n in (*_seccomp.DENIED, *_seccomp.DENIED_ENOSYS) if n in table}
    restricted = {table[n] for n in _seccomp.RESTRICTED if n in table}
    for nr in range(0, 460):
        if nr not in refused | restricted:
            assert _run_bpf(prog, nr=nr, arch=audit_arch) == RET_ALLOW, nr


@pytest.mark.parametrize("machine", sorted(SUPPORTED))
def test_interpreted_program_kills_a_foreign_arch(machine: str) -> None:
    table = SUPPORTED[machine][1]
    prog = _seccomp.build_filter(machine)
    assert prog is not None
    for other in (0x40000003, 0x40000028, 0xC00000B7 if machine == "x86_64" else 0xC000003E):  # i386, arm, the other
        assert _run_bpf(prog, nr=table["ptrace"], arch=other) == RET_KILL_PROCESS
        assert _run_bpf(prog, nr=0, arch=other) == RET_KILL_PROCESS


def test_interpreted_x86_64_program_refuses_the_x32_abi() -> None:
    prog = _seccomp.build_filter("x86_64")
    assert prog is not None
    assert _run_bpf(prog, nr=0x40000000 | 39, arch=0xC000003E) == RET_EPERM  # x32 getpid
    assert _run_bpf(prog, nr=39, arch=0xC000003E) == RET_ALLOW


@pytest.mark.parametrize("machine", sorted(SUPPORTED))
def test_interpreted_clone_and_personality_depend_on_their_argument(machine: str) -> None:
    audit_arch, table = SUPPORTED[machine]
    prog = _seccomp.build_filter(machine)
    assert prog is not None
    clone, pers = table["clone"], table["personality"]
    assert _run_bpf(prog, nr=clone, arch=audit_arch, arg0=SIGCHLD) == RET_ALLOW  # fork
    assert _run_bpf(prog, nr=clone, arch=audit_arch, arg0=CLONE_VM_THREAD_FLAGS) == RET_ALLOW  # thread
    assert _run_bpf(prog, nr=clone, arch=audit_arch, arg0=CLONE_NEWUSER | SIGCHLD) == RET_EPERM
    assert _run_bpf(prog, nr=clone, arch=audit_arch, arg0=CLONE_NEWUTS | SIGCHLD) == RET_EPERM
    assert _run_bpf(prog, nr=pers, arch=audit_arch, arg0=0) == RET_ALLOW
    assert _run_bpf(prog, nr=pers, arch=audit_arch, arg0=0xFFFFFFFF) == RET_ALLOW
    assert _run_bpf(prog, nr=pers, arch=audit_arch, arg0=ADDR_NO_RANDOMIZE) == RET_EPERM


@pytest.mark.parametrize("machine", sorted(SUPPORTED))
def test_interpreted_calls_on_other_processes_are_refused_and_on_the_caller_allowed(machine: str) -> None:
    audit_arch, table = SUPPORTED[machine]
    prog = _seccomp.build_filter(machine)
    assert prog is not None
    for name in _seccomp.SELF_ONLY:
        nr = table[name]
        assert _run_bpf(prog, nr=nr, arch=audit_arch, arg0=0) == RET_ALLOW, name  # pid 0: the caller
        assert _run_bpf(prog, nr=nr, arch=audit_arch, arg0=1 << 32) == RET_ALLOW, name  # the kernel reads a pid_t: 0
        for pid in (1, 2, 4321, 0xFFFFFFFF, (1 << 32) | 2):  # another process, -1, a high word that hides nothing
            assert _run_bpf(prog, nr=nr, arch=audit_arch, arg0=pid) == RET_EPERM, (name, pid)
    for name, which in (("setpriority", 0), ("ioprio_set", 1)):  # PRIO_PROCESS, IOPRIO_WHO_PROCESS
        nr = table[name]
        assert _run_bpf(prog, nr=nr, arch=audit_arch, arg0=which, arg1=0) == RET_ALLOW, name
        for other in range(4):  # a process group or every process of a uid, the caller's own included
            if other != which:
                assert _run_bpf(prog, nr=nr, arch=audit_arch, arg0=other, arg1=0) == RET_EPERM, (name, other)
        for who in (1, 2, 61000, 0xFFFFFFFF):
            assert _run_bpf(prog, nr=nr, arch=audit_arch, arg0=which, arg1=who) == RET_EPERM, (name, who)
    for name in ("process_madvise", "kcmp"):
        assert _run_bpf(prog, nr=table[name], arch=audit_arch) == RET_EPERM, name


def test_describe_lists_what_is_refused() -> None:
    info = _seccomp.describe("aarch64")
    assert info["arch"] == "aarch64" and info["supported"] is True
    assert info["denied_count"] == len(_seccomp.DENIED) - 3
    assert info["skipped"] == ["iopl", "ioperm", "uselib"]
    assert info["denied_enosys"] == ["clone3"]
    x86 = _seccomp.describe("x86_64")
    assert x86["denied_count"] == len(_seccomp.DENIED) and x86["refuses_x32"] is True


# --- the numbers, against the kernel's own tables when this machine has them ----------------------------------


def _header_numbers(path: Path) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\s*$", path.read_text(), re.M)}


def _ausyscall_numbers(arch: str) -> dict[str, int]:
    out = subprocess.run(["ausyscall", arch, "--dump"], capture_output=True, text=True, check=True).stdout
    return {m[2]: int(m[1]) for m in re.finditer(r"^(\d+)\s+(\w+)$", out, re.M)}


def _reference(source: str, machine: str) -> dict[str, int]:
    if source == "ausyscall":
        if shutil.which("ausyscall") is None:
            pytest.skip("ausyscall (Debian package auditd) is not installed")
        return _ausyscall_numbers(machine)
    candidates = {
        "x86_64": ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"],
        "aarch64": ["/usr/include/asm-generic/unistd.h"],
    }[machine]
    for candidate in candidates:
        if Path(candidate).is_file():
            return _header_numbers(Path(candidate))
    pytest.skip(f"no kernel header with the {machine} syscall table (Debian package linux-libc-dev)")


@pytest.mark.parametrize("source", ["headers", "ausyscall"])
@pytest.mark.parametrize("machine", sorted(SUPPORTED))
def test_syscall_numbers_match_the_kernel_tables(machine: str, source: str) -> None:
    reference = _reference(source, machine)
    table = SUPPORTED[machine][1]
    for name in (*_seccomp.DENIED, *_seccomp.DENIED_ENOSYS, *_seccomp.RESTRICTED):
        assert table.get(name) == reference.get(name), name


# --- inside bubblewrap --------------------------------------------------------------------------------------

BWRAP_BASE = [
    "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
    "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
]  # fmt: skip
PREFIXES = (sys.prefix, sys.base_prefix, sys.exec_prefix)


def _command(python: str, prefixes: tuple[str, ...]) -> list[str]:
    """BWRAP_BASE, then the interpreter's directories that the private /tmp covered, bound back read-only (an
    interpreter in a virtualenv under /tmp must stay visible)."""
    args = list(BWRAP_BASE)
    for path in sorted({os.path.realpath(p) for p in prefixes}):
        if path.startswith("/tmp/"):
            args += ["--ro-bind", path, path]
    return [*args, "--", python]


def _bwrap(code: str, prog: bytes | None, python: str = sys.executable,
           prefixes: tuple[str, ...] = PREFIXES) -> subprocess.CompletedProcess[str]:
    args = _command(python, prefixes)
    fds: tuple[int, ...] = ()
    if prog is not None:
        read_fd, write_fd = os.pipe()
        os.write(write_fd, prog)  # far below the pipe's capacity
        os.close(write_fd)
        args[1:1] = ["--seccomp", str(read_fd)]
        fds = (read_fd,)
    try:
        return subprocess.run([*args, "-c", code], pass_fds=fds, capture_output=True, text=True, timeout=120)
    finally:
        for fd in fds:
            os.close(fd)


@pytest.fixture(scope="module")
def bwrap_ok() -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    if platform.machine() not in SUPPORTED:
        pytest.skip(f"no seccomp filter for {platform.machine()}")
    probe = subprocess.run([*BWRAP_BASE, "--", "true"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"bwrap cannot create namespaces here: {probe.stderr.strip()}")


PROBES = r"""
import ctypes, json, os, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
N = json.loads(NUMBERS)
L = ctypes.c_long
out = {}

def probe(name, fn, *args):
    ctypes.set_errno(0)
    ret = fn(*args)
    out[name] = [int(ret), ctypes.get_errno()]
    return ret

probe("unshare", libc.unshare, 0x04000000)
probe("mount", libc.mount, b"none", b"/tmp", b"tmpfs", L(0), None)
probe("personality_set", libc.personality, 0x0040000)
probe("personality_query", libc.personality, ctypes.c_uint(0xFFFFFFFF))
probe("personality_zero", libc.personality, 0)
probe("clone3", libc.syscall, L(N["clone3"]), None, L(0))
if FILTERED:
    probe("ptrace", libc.ptrace, L(0), L(0), None, None)
    probe("keyctl", libc.syscall, L(N["keyctl"]), L(0), L(-3), L(0))
    probe("bpf", libc.syscall, L(N["bpf"]), L(0), None, L(0))
    probe("setns", libc.setns, -1, 0)
    ret = probe("clone_newuts", libc.syscall, L(N["clone"]), L(0x04000000 | 17), None, None, None, None)
    if ret == 0:
        os._exit(0)
    if ret > 0:
        os.waitpid(ret, 0)
    if platform.machine() == "x86_64":
        probe("x32_getpid", libc.syscall, L(0x40000000 | 39))
out["seccomp_mode"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")][0]
print(json.dumps(out))
"""


def _probe(filtered: bool, python: str = sys.executable, prefixes: tuple[str, ...] = PREFIXES) -> dict[str, object]:
    numbers = SUPPORTED[platform.machine()][1]
    code = f"NUMBERS = {json.dumps(json.dumps(numbers))}\nFILTERED = {filtered}\n" + PROBES
    result = _bwrap(code, _seccomp.build_filter() if filtered else None, python, prefixes)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def filtered(bwrap_ok: None) -> dict[str, object]:
    return _probe(filtered=True)


@pytest.fixture(scope="module")
def unfiltered(bwrap_ok: None) -> dict[str, object]:
    return _probe(filtered=False)


@pytest.mark.parametrize("name", ["ptrace", "unshare", "mount", "keyctl", "bpf", "setns", "clone_newuts"])
def test_dangerous_syscalls_fail_with_eperm_under_the_filter(filtered: dict[str, object], name: str) -> None:
    assert filtered["seccomp_mode"] == "2"
    assert filtered[name] == [-1, 1], f"{name}: {filtered[name]}"


def test_clone3_fails_with_enosys_under_the_filter(filtered: dict[str, object]) -> None:
    assert filtered["clone3"] == [-1, 38]


def test_personality_changes_are_refused_but_queries_are_not(filtered: dict[str, object]) -> None:
    assert filtered["personality_set"] == [-1, 1]
    assert filtered["personality_query"][0] != -1  # type: ignore[index]
    assert filtered["personality_zero"][0] != -1  # type: ignore[index]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 exists only on x86_64")
def test_x32_syscalls_fail_with_eperm_under_the_filter(filtered: dict[str, object]) -> None:
    assert filtered["x32_getpid"] == [-1, 1]


def test_without_the_filter_the_same_calls_are_not_refused(unfiltered: dict[str, object]) -> None:
    # bwrap run as root keeps its capabilities inside the new namespaces, so without the filter these succeed;
    # clone3 with a zero-sized argument is rejected by the kernel as EINVAL rather than ENOSYS.
    assert unfiltered["seccomp_mode"] == "0"
    assert unfiltered["unshare"] == [0, 0]
    assert unfiltered["personality_set"][0] != -1  # type: ignore[index]
    assert unfiltered["clone3"] == [-1, 22]
    if os.geteuid() == 0:
        assert unfiltered["mount"] == [0, 0]


ORDINARY = r"""
import os, subprocess, threading
import numpy as np
results = []
threads = [threading.Thread(target=lambda i=i: results.append(i * i)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert sorted(results) == [i * i for i in range(8)], results
assert subprocess.run(["true"]).returncode == 0
assert subprocess.run(["sh", "-c", "echo hi"], capture_output=True, text=True).stdout == "hi\n"
pid = os.fork()
if pid == 0:
    os._exit(7)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
a = np.arange(1_000_000, dtype=np.float64).reshape(1000, 1000)
assert float((a @ a.T).trace()) > 0 and np.isclose(np.linalg.det(np.eye(50) * 2), 2.0**50, rtol=1e-9)
with open("/tmp/x.txt", "w") as f:
    f.write("data")
assert open("/tmp/x.txt").read() == "data"
os.unlink("/tmp/x.txt")
print("ordinary-ok", [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")][0])
"""


def test_ordinary_python_keeps_working_under_the_filter(bwrap_ok: None) -> None:
    result = _bwrap(ORDINARY, _seccomp.build_filter())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ordinary-ok 2"


def test_a_filter_for_another_arch_kills_the_process(bwrap_ok: None) -> None:
    other = "aarch64" if platform.machine() == "x86_64" else "x86_64"
    result = _bwrap("print('survived')", _seccomp.build_filter(other))
    assert "survived" not in result.stdout
    assert result.returncode in (-signal.SIGSYS, 128 + signal.SIGSYS), (result.returncode, result.stderr)


# --- with the interpreter in a virtualenv under /tmp ------------------------------------------------------------


@pytest.fixture(scope="module")
def tmp_venv(bwrap_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtualenv (with the base interpreter's packages) under /tmp, which the sandbox's private /tmp covers."""
    base = tmp_path_factory.getbasetemp()
    parent = Path(tempfile.mkdtemp(dir="/tmp")) if not str(base.resolve()).startswith("/tmp/") else \
        tmp_path_factory.mktemp("venv")
    venv = parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True,
                   timeout=120)
    yield venv
    if parent.parent == Path("/tmp"):
        shutil.rmtree(parent, ignore_errors=True)


def test_a_virtualenv_under_tmp_is_hidden_by_the_private_tmp_unless_bound_back(tmp_venv: Path) -> None:
    python = str(tmp_venv / "bin" / "python")
    hidden = subprocess.run([*BWRAP_BASE, "--", python, "-c", "print('ran')"], capture_output=True, text=True,
                            timeout=60)
    assert hidden.returncode != 0 and "ran" not in hidden.stdout  # the bug this file's command had
    shown = _bwrap("import sys; print(sys.prefix)", None, python, (str(tmp_venv),))
    assert shown.returncode == 0 and shown.stdout.strip() == str(tmp_venv), shown.stderr


def test_the_seccomp_checks_hold_with_the_interpreter_in_a_virtualenv_under_tmp(tmp_venv: Path) -> None:
    python = str(tmp_venv / "bin" / "python")
    filtered = _probe(True, python, (str(tmp_venv),))
    assert filtered["seccomp_mode"] == "2"
    for name in ("ptrace", "unshare", "mount", "keyctl", "bpf", "setns", "clone_newuts", "personality_set"):
        assert filtered[name] == [-1, 1], (name, filtered[name])
    assert filtered["clone3"] == [-1, 38]
    ordinary = _bwrap(ORDINARY, _seccomp.build_filter(), python, (str(tmp_venv),))
    assert ordinary.returncode == 0 and ordinary.stdout.strip() == "ordinary-ok 2", ordinary.stderr
