"""The run directory: manifest, programs stored once by hash, append-only events, summary."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from selftaught.errors import UserError

FORMAT_VERSION = 1


def program_hash(program: str) -> str:
    """The short content hash a program is stored under."""
    return hashlib.sha256(program.encode()).hexdigest()[:16]


class RunStore:
    """Writes one run's directory. Every event is flushed as it happens: a crash loses nothing.

    Layout:
      manifest.json        config, seed, task, versions
      improvers/I_<t>.py   the improver of each iteration
      programs/<hash>.py   every program seen (solutions and improvers), stored once
      events.jsonl         one JSON object per line: lm_call, utility_call, improver_run, iteration
      summary.json         meta-utility per iteration (rewritten after each iteration)
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            (root / "improvers").mkdir(parents=True, exist_ok=False)
            (root / "programs").mkdir()
        except FileExistsError:
            raise UserError(f"run directory already exists: {root}") from None
        except OSError as exc:
            raise UserError(f"cannot create run directory {root}: {exc.strerror}") from None
        self._lock = threading.Lock()
        self._events = open(root / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._known: set[str] = set()

    @classmethod
    def create(cls, runs_dir: Path, label: str) -> RunStore:
        """A new, uniquely named run directory under `runs_dir`."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            name = f"{stamp}-{label}" + (f"-{i}" if i else "")
            if not (runs_dir / name).exists():
                return cls(runs_dir / name)
        raise UserError(f"cannot find a free run directory name under {runs_dir}")

    def write_json(self, name: str, data: Any) -> None:
        """Writes a JSON file atomically (write then rename)."""
        tmp = self.root / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.root / name)

    def save_program(self, program: str | None) -> str | None:
        """Stores a program once; returns its hash (None for no program)."""
        if not isinstance(program, str):
            return None
        digest = program_hash(program)
        with self._lock:
            if digest not in self._known:
                path = self.root / "programs" / f"{digest}.py"
                if not path.exists():
                    path.write_text(program, encoding="utf-8")
                self._known.add(digest)
        return digest

    def save_improver(self, iteration: int, program: str) -> Path:
        path = self.root / "improvers" / f"I_{iteration}.py"
        path.write_text(program, encoding="utf-8")
        self.save_program(program)
        return path

    def event(self, kind: str, **data: Any) -> None:
        """Appends one event line and flushes it."""
        record = {"kind": kind, "time": round(time.time(), 3), **data}
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self._events.write(line + "\n")
            self._events.flush()

    def close(self) -> None:
        with self._lock:
            self._events.close()


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """All events of a run, in order."""
    with open(run_dir / "events.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
