"""Reads a run directory tolerantly: a missing, partial or torn file is a warning, never a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftaught.errors import UserError
from selftaught.store import FORMAT_VERSION

MAX_JSON_BYTES = 64 << 20  # manifest/summary/transfer files; a run's are a few kB
MAX_PROGRAM_BYTES = 1 << 20


@dataclass
class RunFiles:
    """What a run directory holds, as far as it could be read; `warnings` says what could not."""

    root: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    events: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def program(self, digest: str) -> str | None:
        """The text of `programs/<digest>.py`, or None when it is missing (or the name is not a hash)."""
        if not digest or not all(c in "0123456789abcdef" for c in digest):
            return None
        return _read_text(self.root / "programs" / f"{digest}.py")

    def improver_file(self, index: int) -> str | None:
        return _read_text(self.root / "improvers" / f"I_{index}.py")


def _read_text(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PROGRAM_BYTES + 1)
    except OSError:
        return None
    text = data[:MAX_PROGRAM_BYTES].decode("utf-8", errors="replace")
    return text + ("\n# ... (truncated by the report)\n" if len(data) > MAX_PROGRAM_BYTES else "")


def read_json_file(path: Path, what: str, warnings: list[str]) -> dict[str, Any] | None:
    """A JSON object from `path`; None (with a warning) when it is missing, torn or not an object."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        warnings.append(f"{what} is missing")
        return None
    except OSError as exc:
        warnings.append(f"{what} cannot be read ({exc.strerror})")
        return None
    if len(data) > MAX_JSON_BYTES:
        warnings.append(f"{what} is too large to read (over {MAX_JSON_BYTES >> 20} MB)")
        return None
    try:
        value = json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        warnings.append(f"{what} is not valid JSON (partly written?)")
        return None
    if not isinstance(value, dict):
        warnings.append(f"{what} is not a JSON object")
        return None
    return value


def read_events_tolerant(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    """Every whole event of `events.jsonl`; a torn or garbled line is skipped and counted in a warning."""
    events: list[dict[str, Any]] = []
    bad = 0
    try:
        f = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except FileNotFoundError:
        warnings.append("events.jsonl is missing")
        return events
    except OSError as exc:
        warnings.append(f"events.jsonl cannot be read ({exc.strerror})")
        return events
    with f:
        for line in f:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                bad += 1
                continue
            if isinstance(value, dict):
                events.append(value)
            else:
                bad += 1
    if bad:
        warnings.append(f"events.jsonl: {bad} unreadable line(s) skipped (a torn last line is what an interrupted "
                        "run leaves)")
    return events


def load_run(root: Path) -> RunFiles:
    """Reads a run directory; refuses (one line) what is not a run or is of a newer format."""
    if not root.exists():
        raise UserError(f"run directory not found: {root}")
    if not root.is_dir():
        raise UserError(f"not a directory: {root}")
    if not any((root / name).exists() for name in ("manifest.json", "events.jsonl", "summary.json")):
        raise UserError(f"not a run directory (no manifest.json, events.jsonl or summary.json): {root}")
    warnings: list[str] = []
    manifest = read_json_file(root / "manifest.json", "manifest.json", warnings) or {}
    version = manifest.get("format_version")
    if manifest and not isinstance(version, int):
        warnings.append(f"manifest.json has no usable format_version ({version!r}); reading it as version "
                        f"{FORMAT_VERSION}")
    elif isinstance(version, int) and version > FORMAT_VERSION:
        raise UserError(f"{root} was written in run format version {version}; this selftaught reads up to "
                        f"version {FORMAT_VERSION} (upgrade selftaught to report on it)")
    summary = read_json_file(root / "summary.json", "summary.json", warnings) or {}
    events = read_events_tolerant(root / "events.jsonl", warnings)
    if summary and not summary.get("complete"):
        stopped = summary.get("stopped")
        warnings.append("the run did not complete" + (f" (stopped: {stopped})" if stopped else
                                                       " (interrupted, or still running)"))
    return RunFiles(root, manifest, summary, events, warnings)
