"""Improver references on the command line: a file, `RUN_DIR:I_t` (`I_T`, `last`), a run (its last improver), or a
library improver's name."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught.api._setup import read_improver, read_program, require_entrypoint
from selftaught.errors import UserError

LAST = ("I_T", "last")
_ITERATION = re.compile(r"I_(\d+)")


@dataclass(frozen=True)
class ImproverRef:
    """A resolved improver: its code, where it came from (its file; None for a library improver), and the task and
    split-secret fingerprint of its run (None for a plain file)."""

    ref: str
    program: str
    path: Path | None
    run_task: str | None = None
    run_secret: str | None = None


def resolve(ref: str) -> ImproverRef:
    """The improver `ref` names; a missing file, run or iteration is refused in one line."""
    whole = Path(ref)
    if whole.is_dir():
        return _from_run(ref, whole, "last")
    if whole.exists() or ":" not in ref:
        if not whole.exists():
            # not a file: a library improver's name, or refused in one line
            return ImproverRef(ref, read_improver(ref, "no such improver file or run directory"), None)
        return _program(ref, whole, None)
    run, _, which = ref.rpartition(":")
    if not Path(run).is_dir():
        raise UserError(f"no such run directory: {run} (in {ref})")
    return _from_run(ref, Path(run), which)


def _from_run(ref: str, run: Path, which: str) -> ImproverRef:
    improvers = run / "improvers"
    if not improvers.is_dir():
        raise UserError(f"{run} is not a run directory (it has no improvers/)")
    have = sorted(int(m.group(1)) for p in improvers.glob("I_*.py") if (m := _ITERATION.fullmatch(p.stem)))
    if not have:
        raise UserError(f"run {run} has no improvers yet")
    if which in LAST:
        index = have[-1]
    else:
        match = _ITERATION.fullmatch(which)
        if match is None:
            raise UserError(f"bad improver {which!r} in {ref}: expected I_<t>, I_T or last")
        index = int(match.group(1))
        if index not in have:
            raise UserError(f"run {run} has no improver I_{index} (it has I_0..I_{have[-1]})")
    manifest = _manifest(run)
    secret = manifest.get("split_secret")
    fingerprint = secret.get("fingerprint") if isinstance(secret, dict) else None
    return _program(ref, improvers / f"I_{index}.py", run_task(manifest),
                    fingerprint if isinstance(fingerprint, str) else None)


def _program(ref: str, path: Path, task: str | None = None, secret: str | None = None) -> ImproverRef:
    program = read_program(str(path), "improver")
    require_entrypoint(program, "improve_algorithm", str(path))
    return ImproverRef(ref, program, path, task, secret)


def _manifest(run: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def run_task(manifest: dict[str, Any]) -> str | None:
    """The task of a run's manifest: the task it was given (a name, or a task file still there), else the task's
    name."""
    config, task = manifest.get("config"), manifest.get("task")
    spec = config.get("task") if isinstance(config, dict) else None
    name = task.get("name") if isinstance(task, dict) else None
    if isinstance(spec, str) and (not spec.endswith(".py") or Path(spec).exists()):
        return spec  # a built-in task, or a task file still where the run found it
    return name if isinstance(name, str) else None
