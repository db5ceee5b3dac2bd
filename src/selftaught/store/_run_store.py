"""The run directory: manifest, programs stored once by hash, append-only events, journals, summary."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

from selftaught._atomic import truncate_torn_tail, write_atomic
from selftaught.errors import UserError
from selftaught.store._journal import EvaluationJournal

#: 1: manifest, improvers/, programs/, events.jsonl, summary.json (lm-cache.sqlite shipped at the end, real
#: providers only). 2: adds the journals a run resumes from (evaluations.jsonl, lm-cache.sqlite written as calls
#: complete), `.lock` held while a process runs it, summary `status`, and `resumed` events.
FORMAT_VERSION = 2
LOCK_FILE = ".lock"
#: Event fields that differ between an interrupted run's record of some work and a resumed run's replay of it.
VOLATILE_FIELDS = frozenset({"time", "duration", "cached"})


def program_hash(program: str) -> str:
    """The short content hash a program is stored under."""
    return hashlib.sha256(program.encode()).hexdigest()[:16]


def event_fingerprint(record: dict[str, Any]) -> str:
    """What identifies an event across an interruption: everything but its timing."""
    stable = {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}
    return json.dumps(stable, sort_keys=True, ensure_ascii=False, default=str)


class _Taken(UserError):
    """The run directory exists already."""


class RunStore:
    """Writes one run's directory. Every event is flushed as it happens: a crash loses nothing.

    Layout:
      manifest.json        config, seed, task, versions, format_version
      improvers/I_<t>.py   the improver of each iteration
      programs/<hash>.py   every program seen (solutions and improvers), stored once
      events.jsonl         one JSON object per line: lm_call, utility_call, improver_run, iteration, resumed...
      evaluations.jsonl    every finished evaluation (what `--resume` reuses)
      lm-cache.sqlite      every LM call's replies (what `--resume` replays; `--cache replay` reads it too)
      summary.json         meta-utility per iteration, status (rewritten after each iteration)

    Every file but the two append-only logs is written atomically; a torn last line of a log is cut
    when the run is resumed (and skipped by readers). While a process runs the store it holds an
    exclusive lock on `.lock` (released by the kernel however the process ends).
    """

    def __init__(self, root: Path, *, resume: bool = False) -> None:
        self.root = root
        if resume:
            if not (root / "improvers").is_dir() or not (root / "programs").is_dir():
                raise UserError(f"{root} is not a run directory (no improvers/ or programs/)")
        else:
            try:
                root.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                raise _Taken(f"run directory already exists: {root}") from None
            except OSError as exc:
                raise UserError(f"cannot create run directory {root}: {exc.strerror}") from None
            try:
                (root / "improvers").mkdir()
                (root / "programs").mkdir()
            except OSError as exc:
                shutil.rmtree(root, ignore_errors=True)
                raise UserError(f"cannot create run directory {root}: {exc.strerror}") from None
        self._lock_file = _take_lock(root)
        self._lock = threading.Lock()
        self._frozen = False
        # On resume, the events already recorded: a replayed event that matches one is not written again.
        self._recorded: Counter[str] = Counter()
        #: on resume, lines of the logs that could not be read (garbage in the file): skipped, left in place
        self.skipped: dict[str, int] = {}
        if resume:
            truncate_torn_tail(root / "events.jsonl")
            events, skipped = _read_objects(root / "events.jsonl") if (root / "events.jsonl").exists() else ([], 0)
            self.skipped["events.jsonl"] = skipped
            self._recorded.update(event_fingerprint(e) for e in events if e.get("kind") != "resumed")
        self.events_recorded = sum(self._recorded.values())
        self._events = open(root / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self.evaluations = EvaluationJournal(root / "evaluations.jsonl")
        if resume:
            self.skipped["evaluations.jsonl"] = self.evaluations.skipped
        self._known: set[str] = set()

    @classmethod
    def create(cls, runs_dir: Path, label: str) -> RunStore:
        """A new, uniquely named run directory under `runs_dir`."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            name = f"{stamp}-{label}" + (f"-{i}" if i else "")
            if not (runs_dir / name).exists():
                try:
                    return cls(runs_dir / name)
                except _Taken:  # another run (a study's seeds start at once) took the name meanwhile
                    continue
        raise UserError(f"cannot find a free run directory name under {runs_dir}")

    def write_json(self, name: str, data: Any) -> None:
        """Writes a JSON file atomically (write, fsync, rename)."""
        write_atomic(self.root / name, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def save_program(self, program: str | None) -> str | None:
        """Stores a program once; returns its hash (None for no program). Once the store is frozen or closed,
        nothing is written (threads of a run that has ended must not change its directory)."""
        if not isinstance(program, str):
            return None
        digest = program_hash(program)
        with self._lock:
            if self._frozen or self._events.closed:
                return digest
            if digest not in self._known:
                path = self.root / "programs" / f"{digest}.py"
                if not path.exists():
                    write_atomic(path, program)
                self._known.add(digest)
        return digest

    def save_improver(self, iteration: int, program: str) -> Path:
        path = self.root / "improvers" / f"I_{iteration}.py"
        write_atomic(path, program)
        self.save_program(program)
        return path

    def event(self, kind: str, **data: Any) -> None:
        """Appends one event line and flushes it (unless a resumed run's log has it already, or the store is frozen)."""
        record = {"kind": kind, "time": round(time.time(), 3), **data}
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            if self._frozen or self._events.closed:
                return
            if self._recorded:
                fingerprint = event_fingerprint(json.loads(line))
                if self._recorded[fingerprint] > 0:
                    self._recorded[fingerprint] -= 1
                    return
            self._events.write(line + "\n")
            self._events.flush()

    def unmatched_events(self) -> int:
        """Events of the interrupted session that the resumed run has not (yet) replayed."""
        with self._lock:
            return sum(self._recorded.values())

    def freeze(self) -> None:
        """Records nothing more (the run is stopping: what its threads still do would be noise)."""
        with self._lock:
            self._frozen = True

    def close(self) -> None:
        with self._lock:
            self._events.close()
        self.evaluations.close()
        with contextlib.suppress(OSError):
            self._lock_file.close()

    def discard(self) -> None:
        """Closes and removes a new run directory that never got its manifest (the command failed before it
        started the run): a run directory is either complete enough to be listed and resumed, or absent."""
        self.close()
        if not (self.root / "manifest.json").exists():
            shutil.rmtree(self.root, ignore_errors=True)


def _take_lock(root: Path) -> IO[str]:
    """Holds `.lock` exclusively; refuses a run directory another live process is running."""
    handle = open(root / LOCK_FILE, "a", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"{root} is being run by another process right now") from None
    return handle


def is_locked(root: Path) -> bool:
    """Whether a live process runs this run directory now."""
    try:
        with open(root / LOCK_FILE, encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False
    except OSError:
        return False


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """All events of a run, in order; a line that is not a JSON object (a torn last line after a crash) is skipped."""
    return _read_objects(run_dir / "events.jsonl")[0]


def _read_objects(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSON-lines file, in order, and how many non-blank lines were not one (skipped)."""
    out: list[dict[str, Any]] = []
    skipped = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                skipped += 1
                continue
            if isinstance(record, dict):
                out.append(record)
            else:
                skipped += 1
    return out, skipped
