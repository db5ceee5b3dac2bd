"""A classic-BPF seccomp filter for bubblewrap's ``--seccomp FD``, built without third-party dependencies."""

from __future__ import annotations

import platform
import struct

# Refused with EPERM whatever their arguments (names absent on an architecture are skipped there).
DENIED: tuple[str, ...] = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "quotactl",
    "syslog",
    "vhangup",
    "uselib",
    "mount_setattr",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "lookup_dcookie",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "pidfd_getfd",
    "process_madvise",
    "kcmp",
)

# Refused with ENOSYS, so glibc (pthread_create, posix_spawn) falls back to clone().
DENIED_ENOSYS: tuple[str, ...] = ("clone3",)

# Calls that change another process when given its pid (their first argument): a program of the same uid
# (a warm worker and its zygote) could change the state that the zygote's later children inherit. Refused with
# EPERM unless the pid is 0, the caller itself (the kernel reads a pid_t: the argument's low 32 bits).
SELF_ONLY: tuple[str, ...] = (
    "prlimit64",
    "sched_setparam",
    "sched_setscheduler",
    "sched_setattr",
    "sched_setaffinity",
    "migrate_pages",
    "move_pages",
)

# Calls that name their target as (which, who): refused with EPERM unless `which` is this value (one process:
# PRIO_PROCESS, IOPRIO_WHO_PROCESS) and `who` is 0 (the caller), never a process group or a whole uid.
SELF_ONLY_WHICH: dict[str, int] = {"setpriority": 0, "ioprio_set": 1}

# Refused with EPERM only for some arguments.
RESTRICTED: dict[str, str] = {
    "personality": "refused unless the persona is 0 (PER_LINUX) or 0xffffffff (query only)",
    "clone": "refused when the flags contain a CLONE_NEW* namespace bit (threads and fork still work)",
    **{name: "refused unless the pid is 0 (the caller itself)" for name in SELF_ONLY},
    "setpriority": "refused unless it names the caller itself (PRIO_PROCESS, who 0)",
    "ioprio_set": "refused unless it names the caller itself (IOPRIO_WHO_PROCESS, who 0)",
}

# Syscall numbers, checked against linux-libc-dev 6.1 (asm/unistd_64.h, asm-generic/unistd.h) and `ausyscall --dump`.
_X86_64: dict[str, int] = {
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "unshare": 272,
    "setns": 308,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "bpf": 321,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "open_by_handle_at": 304,
    "name_to_handle_at": 303,
    "acct": 163,
    "settimeofday": 164,
    "clock_settime": 227,
    "clock_adjtime": 305,
    "adjtimex": 159,
    "iopl": 172,
    "ioperm": 173,
    "quotactl": 179,
    "syslog": 103,
    "vhangup": 153,
    "uselib": 134,
    "mount_setattr": 442,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "move_mount": 429,
    "open_tree": 428,
    "lookup_dcookie": 212,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "kcmp": 312,
    "personality": 135,
    "clone": 56,
    "clone3": 435,
    "prlimit64": 302,
    "sched_setparam": 142,
    "sched_setscheduler": 144,
    "sched_setattr": 314,
    "sched_setaffinity": 203,
    "migrate_pages": 256,
    "move_pages": 279,
    "setpriority": 141,
    "ioprio_set": 251,
}

# aarch64 uses the generic table; it has no iopl, ioperm or uselib.
_AARCH64: dict[str, int] = {
    "ptrace": 117,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "mount": 40,
    "umount2": 39,
    "pivot_root": 41,
    "chroot": 51,
    "unshare": 97,
    "setns": 268,
    "kexec_load": 104,
    "kexec_file_load": 294,
    "bpf": 280,
    "keyctl": 219,
    "add_key": 217,
    "request_key": 218,
    "init_module": 105,
    "finit_module": 273,
    "delete_module": 106,
    "reboot": 142,
    "swapon": 224,
    "swapoff": 225,
    "perf_event_open": 241,
    "userfaultfd": 282,
    "open_by_handle_at": 265,
    "name_to_handle_at": 264,
    "acct": 89,
    "settimeofday": 170,
    "clock_settime": 112,
    "clock_adjtime": 266,
    "adjtimex": 171,
    "quotactl": 60,
    "syslog": 116,
    "vhangup": 58,
    "mount_setattr": 442,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "move_mount": 429,
    "open_tree": 428,
    "lookup_dcookie": 18,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "kcmp": 272,
    "personality": 92,
    "clone": 220,
    "clone3": 435,
    "prlimit64": 261,
    "sched_setparam": 118,
    "sched_setscheduler": 119,
    "sched_setattr": 274,
    "sched_setaffinity": 122,
    "migrate_pages": 238,
    "move_pages": 239,
    "setpriority": 140,
    "ioprio_set": 30,
}

_AUDIT_ARCH_X86_64 = 0xC000003E
_AUDIT_ARCH_AARCH64 = 0xC00000B7

# machine name -> (canonical name, AUDIT_ARCH value, syscall table, refuse x32)
_ARCHES: dict[str, tuple[str, int, dict[str, int], bool]] = {
    "x86_64": ("x86_64", _AUDIT_ARCH_X86_64, _X86_64, True),
    "amd64": ("x86_64", _AUDIT_ARCH_X86_64, _X86_64, True),
    "aarch64": ("aarch64", _AUDIT_ARCH_AARCH64, _AARCH64, False),
    "arm64": ("aarch64", _AUDIT_ARCH_AARCH64, _AARCH64, False),
}

# Linux errno values (the same on x86_64 and aarch64; not taken from the host's errno module).
_EPERM = 1
_ENOSYS = 38

_X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET.
# CLONE_NEWTIME (0x80) is left out: in clone()'s flags the low byte is the exit signal, and the kernel only
# accepts CLONE_NEWTIME through unshare() and clone3(), both refused outright.
_CLONE_NEW_MASK = 0x7E020000
_PER_LINUX = 0
_PERSONALITY_QUERY = 0xFFFFFFFF

# classic BPF opcodes
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16  # low 32 bits of args[0] on a little-endian machine (both supported arches are)
_OFF_ARG1_LOW = 24  # low 32 bits of args[1]

_Insn = tuple[int, int, int, int]


def _resolve(machine: str | None) -> tuple[str, int, dict[str, int], bool] | None:
    name = platform.machine() if machine is None else machine
    return _ARCHES.get(name.lower())


def _program(audit_arch: int, table: dict[str, int], refuse_x32: bool) -> list[_Insn]:
    eperm = _RET_ERRNO | _EPERM
    prog: list[_Insn] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, audit_arch),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if refuse_x32:
        prog += [(_JGE_K, 0, 1, _X32_SYSCALL_BIT), (_RET_K, 0, 0, eperm)]
    for name in DENIED:
        if name in table:
            prog += [(_JEQ_K, 0, 1, table[name]), (_RET_K, 0, 0, eperm)]
    for name in DENIED_ENOSYS:
        if name in table:
            prog += [(_JEQ_K, 0, 1, table[name]), (_RET_K, 0, 0, _RET_ERRNO | _ENOSYS)]
    # Argument checks come last: each block returns, so A need not be reloaded with nr afterwards.
    if "clone" in table:
        prog += [
            (_JEQ_K, 0, 4, table["clone"]),
            (_LD_W_ABS, 0, 0, _OFF_ARG0_LOW),
            (_JSET_K, 0, 1, _CLONE_NEW_MASK),
            (_RET_K, 0, 0, eperm),
            (_RET_K, 0, 0, _RET_ALLOW),
        ]
    if "personality" in table:
        prog += [
            (_JEQ_K, 0, 5, table["personality"]),
            (_LD_W_ABS, 0, 0, _OFF_ARG0_LOW),
            (_JEQ_K, 2, 0, _PER_LINUX),
            (_JEQ_K, 1, 0, _PERSONALITY_QUERY),
            (_RET_K, 0, 0, eperm),
            (_RET_K, 0, 0, _RET_ALLOW),
        ]
    for name in SELF_ONLY:
        if name in table:
            prog += [
                (_JEQ_K, 0, 4, table[name]),
                (_LD_W_ABS, 0, 0, _OFF_ARG0_LOW),
                (_JEQ_K, 1, 0, 0),  # pid 0: the caller itself
                (_RET_K, 0, 0, eperm),
                (_RET_K, 0, 0, _RET_ALLOW),
            ]
    for name, which in SELF_ONLY_WHICH.items():
        if name in table:
            prog += [
                (_JEQ_K, 0, 6, table[name]),
                (_LD_W_ABS, 0, 0, _OFF_ARG0_LOW),
                (_JEQ_K, 0, 2, which),  # a process group or a user: refused
                (_LD_W_ABS, 0, 0, _OFF_ARG1_LOW),
                (_JEQ_K, 1, 0, 0),  # who 0: the caller itself
                (_RET_K, 0, 0, eperm),
                (_RET_K, 0, 0, _RET_ALLOW),
            ]
    prog.append((_RET_K, 0, 0, _RET_ALLOW))
    return prog


def build_filter(machine: str | None = None) -> bytes | None:
    """The raw ``struct sock_filter`` array for ``bwrap --seccomp FD``, or None for an unsupported machine."""
    arch = _resolve(machine)
    if arch is None:
        return None
    _, audit_arch, table, refuse_x32 = arch
    return b"".join(struct.pack("=HBBI", *insn) for insn in _program(audit_arch, table, refuse_x32))


def describe(machine: str | None = None) -> dict[str, object]:
    """What the filter refuses on ``machine`` (default: this one), for ``selftaught sandbox check``."""
    arch = _resolve(machine)
    if arch is None:
        name = platform.machine() if machine is None else machine
        return {"arch": name, "supported": False, "denied_count": 0, "denied": []}
    canonical, _, table, refuse_x32 = arch
    denied = [name for name in DENIED if name in table]
    enosys = [name for name in DENIED_ENOSYS if name in table]
    return {
        "arch": canonical,
        "supported": True,
        "denied_count": len(denied),
        "denied": denied,
        "denied_enosys": enosys,
        "restricted": {name: why for name, why in RESTRICTED.items() if name in table},
        "skipped": [name for name in (*DENIED, *DENIED_ENOSYS) if name not in table],
        "refuses_x32": refuse_x32,
    }
