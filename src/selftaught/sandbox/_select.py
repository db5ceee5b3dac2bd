"""Choosing the sandbox: bubblewrap when it works here, else a loud fallback (or a refusal in strict mode)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

from selftaught._text import last_line
from selftaught.errors import UserError, WorkerError
from selftaught.sandbox._bwrap import BwrapSandbox
from selftaught.sandbox._channel import ChannelClosed, ChannelTimeout, Worker
from selftaught.sandbox._process import ProcessSandbox
from selftaught.sandbox._uids import find_setpriv
from selftaught.sandbox._worker_process import Limits

MODES = ("auto", "strict", "process")
PROBE_TIMEOUT = 30.0
# The least memory limit accepted: a worker that imports numpy maps about 108 MB of address space
# (RLIMIT_AS binds before the cgroup, whose resident use is about 35 MB); measured, see docs/sandbox.md.
MIN_MEMORY_MB = 112


class Sandbox(Protocol):
    """What callers need from a sandbox: a fresh worker per program."""

    name: str
    isolated: bool
    limits: Limits

    def launch(self, seed: int = 0) -> Worker: ...


@dataclass(frozen=True)
class SandboxChoice:
    """The sandbox in use, and why it is not the isolating one when it is not.

    Attributes:
      warning: a prominent message to print on every run when isolation is reduced.
    """

    sandbox: Sandbox
    warning: str | None = None
    reason: str | None = None
    fix: str | None = None


def diagnose(stderr: str) -> tuple[str, str]:
    """Turns a failed bubblewrap start into (reason, fix)."""
    text = stderr.strip()
    last = text.splitlines()[-1] if text else "no output"
    if "setting up uid map" in text and "Permission denied" in text:
        return (
            "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later)",
            "install the bwrap-userns-restrict AppArmor profile (package apparmor-profiles, then "
            "`sudo ln -s /usr/share/apparmor/extra-profiles/bwrap-userns-restrict /etc/apparmor.d/ && "
            "sudo systemctl reload apparmor`), or allow them with "
            "`sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`",
        )
    if "No permissions to creat" in text or "Operation not permitted" in text or "Creating new namespace" in text:
        return (
            f"user namespaces are unavailable here (e.g. inside Docker's default seccomp profile): {last}",
            "run on a host (or a VM) with unprivileged user namespaces enabled "
            "(`sysctl kernel.unprivileged_userns_clone=1` / `user.max_user_namespaces`)",
        )
    if "Permission denied" in text and ("python" in text.lower() or "site-packages" in text):
        prefix = sys.base_prefix
        return (
            f"the sandbox user cannot read the Python installation at {prefix}",
            f"make it readable to other users (`chmod -R o+rX {prefix}` and `chmod o+x` on its parent "
            "directories), or install selftaught with a system-wide Python",
        )
    return f"bubblewrap failed to start a worker: {last}", "run `selftaught sandbox check` for details"


def probe(sandbox: Sandbox) -> str | None:
    """Starts one worker and defines a program that imports numpy in it; returns the failure output or None."""
    try:
        worker = sandbox.launch()
    except UserError:
        raise
    except Exception as exc:  # any failure to start means "not available"
        return str(exc) or type(exc).__name__
    try:
        worker.send({"op": "load", "program": "import numpy\ndef algorithm():\n    return 1\n",
                     "entrypoint": "algorithm"})
        reply = worker.receive(PROBE_TIMEOUT)
        if reply.get("op") == "loading":
            worker.send({"op": "go"})
            reply = worker.receive(PROBE_TIMEOUT)
        if reply.get("ok"):
            return None
        return f"{worker.stderr_tail()}\n{reply.get('error', '')}"
    except (ChannelClosed, ChannelTimeout):
        return worker.stderr_tail() or "the worker exited during start-up"
    finally:
        worker.kill()


class LimitsTooSmall(UserError):
    """A worker cannot start under the limits asked for (the sandbox itself works: it is the limits).

    Attributes:
      limits: the limits asked for.
      detail: why, as the worker said it (or the known minimum).
    """

    def __init__(self, limits: Limits, detail: str) -> None:
        self.limits = limits
        self.detail = detail
        super().__init__(self.message())

    def message(self, memory_flag: str = "--memory-mb") -> str:
        """One line naming what was asked for (`memory_flag` as the command spells it)."""
        default = Limits()
        if self.limits.memory_mb != default.memory_mb:
            asked = f"{memory_flag} {self.limits.memory_mb} is"
        else:
            changed = [f"{k}={v}" for k, v in self.limits.__dict__.items() if default.__dict__[k] != v]
            asked = f"the limits {', '.join(changed)} are"
        return f"{asked} too small for a worker to start ({self.detail})"


def _choose(mode: str) -> SandboxChoice:
    """The sandbox for `mode` (a valid one), chosen with the default limits: the user's never decide which runs."""
    if mode == "process":
        reason, fix = "--sandbox process was chosen", "use --sandbox auto (the default) on Linux with bubblewrap"
        return _process_choice(reason, fix, None)
    if platform.system() != "Linux":
        reason, fix = f"namespaces are unavailable on {platform.system()}", "run selftaught on Linux"
    elif shutil.which("bwrap") is None:
        reason, fix = "bubblewrap is not installed", "install it: `sudo apt-get install bubblewrap` (Debian/Ubuntu)"
    elif os.getuid() == 0 and find_setpriv() is None:
        reason, fix = "setpriv is missing (needed to drop root)", "install util-linux"
    else:
        sandbox = BwrapSandbox()
        failure = probe(sandbox)
        if failure is None:
            return SandboxChoice(sandbox)
        reason, fix = diagnose(failure)
    if mode == "strict":
        raise UserError(f"--sandbox strict: full isolation is unavailable: {reason}. Fix: {fix}")
    return _process_choice(reason, fix, f"full isolation is unavailable ({reason}; fix: {fix}) and ")


def _process_choice(reason: str, fix: str, fallback: str | None) -> SandboxChoice:
    sandbox = ProcessSandbox()
    refusal = sandbox.refusal()
    if refusal is not None:
        raise UserError((fallback + "the process-sandbox fallback cannot run either: " if fallback else "")
                        + refusal)
    return SandboxChoice(sandbox, _warning(reason, fix), reason, fix)


def _with_limits(sandbox: Sandbox, limits: Limits) -> Sandbox:
    if limits == sandbox.limits:
        return sandbox
    if isinstance(sandbox, BwrapSandbox):
        return BwrapSandbox(limits)
    return ProcessSandbox(limits)


@lru_cache(maxsize=8)
def select_sandbox(mode: str = "auto", limits: Limits = Limits()) -> SandboxChoice:  # noqa: B008
    """The sandbox for `mode`: `auto` (isolate if possible, else warn), `strict`, or `process`.

    The choice is made with the default limits; a worker is then started under `limits` (loading a
    program that imports numpy), and LimitsTooSmall says so when it cannot start, never a change of
    sandbox. A UserError says why no sandbox can run here.
    """
    if mode not in MODES:
        raise UserError(f"unknown sandbox mode {mode!r} (choose from {', '.join(MODES)})")
    if limits.memory_mb < MIN_MEMORY_MB:
        raise LimitsTooSmall(limits, f"a worker that imports numpy needs at least {MIN_MEMORY_MB} MB of address space")
    choice = _choose(mode)
    probed = isinstance(choice.sandbox, BwrapSandbox)  # _choose started one under the default limits
    if probed and limits == Limits():
        return choice
    sandbox = _with_limits(choice.sandbox, limits)
    failure = probe(sandbox)
    if failure is None:
        return replace(choice, sandbox=sandbox)
    said = last_line(failure, 200, "it exited during start-up")
    if limits != Limits() and (probed or probe(choice.sandbox) is None):
        raise LimitsTooSmall(limits, f"the worker said: {said}")
    raise WorkerError(f"a worker cannot start in the {sandbox.name} sandbox: {said}")


def _warning(reason: str, fix: str) -> str:
    if os.getuid() == 0:
        who = ("as an unprivileged uid of its own (no capabilities, no_new_privs), with resource limits and a "
               "scrubbed environment. Still missing: a filesystem view of its own (it can read every "
               "world-readable file, the selftaught package and its tasks' code included, and write where "
               "any user may, such as /tmp)")
    else:
        who = ("as your user, with resource limits and a scrubbed environment. Still missing: a filesystem "
               "view of its own (it can read and write your files, the selftaught package, its tasks' code and "
               "your split secret included, so it could re-create hidden instances) and a user of its own (it "
               "can signal and trace your other processes)")
    return (
        f"WARNING: REDUCED ISOLATION: {reason}. Generated code runs as a plain process {who}; a network "
        "namespace (it can use the network and reach local services); a PID namespace (it sees other processes "
        f"and their command lines); and the seccomp filter. Fix: {fix}. Use --sandbox strict to refuse to run "
        "without full isolation."
    )
