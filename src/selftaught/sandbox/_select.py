"""Choosing the sandbox: bubblewrap when it works here, else a loud fallback (or a refusal in strict mode)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from selftaught.errors import UserError
from selftaught.sandbox._bwrap import BwrapSandbox
from selftaught.sandbox._process import ProcessSandbox
from selftaught.sandbox._worker_process import ChannelClosed, ChannelTimeout, Limits, WorkerProcess

MODES = ("auto", "strict", "process")
PROBE_TIMEOUT = 30.0


class Sandbox(Protocol):
    """What callers need from a sandbox: a fresh worker per program."""

    name: str
    isolated: bool
    limits: Limits

    def launch(self, seed: int = 0) -> WorkerProcess: ...


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


def probe(sandbox: BwrapSandbox) -> str | None:
    """Starts one confined worker and defines a program in it; returns the failure output or None."""
    try:
        worker = sandbox.launch()
    except Exception as exc:  # any failure to start means "not available"
        return str(exc)
    try:
        worker.send({"op": "load", "program": "import numpy\ndef algorithm():\n    return 1\n",
                     "entrypoint": "algorithm"})
        reply = worker.receive(PROBE_TIMEOUT)
        if reply.get("op") == "loading":
            reply = worker.receive(PROBE_TIMEOUT)
        if reply.get("ok"):
            return None
        return f"{worker.stderr_tail()}\n{reply.get('error', '')}"
    except (ChannelClosed, ChannelTimeout):
        return worker.stderr_tail() or "the worker exited during start-up"
    finally:
        worker.kill()


@lru_cache(maxsize=8)
def select_sandbox(mode: str = "auto", limits: Limits = Limits()) -> SandboxChoice:  # noqa: B008
    """The sandbox for `mode`: `auto` (isolate if possible, else warn), `strict`, or `process`."""
    if mode not in MODES:
        raise UserError(f"unknown sandbox mode {mode!r} (choose from {', '.join(MODES)})")
    if mode == "process":
        reason, fix = "--sandbox process was chosen", "use --sandbox auto (the default) on Linux with bubblewrap"
        return SandboxChoice(ProcessSandbox(limits), _warning(reason, fix), reason, fix)
    if platform.system() != "Linux":
        reason, fix = f"namespaces are unavailable on {platform.system()}", "run selftaught on Linux"
    elif shutil.which("bwrap") is None:
        reason, fix = "bubblewrap is not installed", "install it: `sudo apt-get install bubblewrap` (Debian/Ubuntu)"
    elif os.getuid() == 0 and shutil.which("setpriv") is None:
        reason, fix = "setpriv is missing (needed to drop root)", "install util-linux"
    else:
        sandbox = BwrapSandbox(limits)
        failure = probe(sandbox)
        if failure is None:
            return SandboxChoice(sandbox)
        reason, fix = diagnose(failure)
    if mode == "strict":
        raise UserError(f"--sandbox strict: full isolation is unavailable: {reason}. Fix: {fix}")
    return SandboxChoice(ProcessSandbox(limits), _warning(reason, fix), reason, fix)


def _warning(reason: str, fix: str) -> str:
    return (
        "WARNING: REDUCED ISOLATION: " + reason + ". Generated code runs as a plain process with resource "
        "limits and a scrubbed environment only: it can read your files, use the network and see other "
        f"processes. Fix: {fix}. Use --sandbox strict to refuse to run without full isolation."
    )
