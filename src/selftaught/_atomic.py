"""Crash-safe file writes: write a temporary file, fsync it, rename it over the target."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from selftaught.errors import UserError


def write_atomic(path: Path, text: str) -> None:
    """Replaces `path` with `text` so a reader (or a crash at any instant) sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json(path: Path, data: Any) -> None:
    """`data` as indented JSON, written atomically (its directory made if need be); one line if it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror})") from None


def truncate_torn_tail(path: Path) -> int:
    """Cuts a JSON-lines file after its last complete line (a crash may leave half a line); returns bytes cut."""
    if not path.exists():
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep == len(data):
            return 0
        f.truncate(keep)
        return len(data) - keep
