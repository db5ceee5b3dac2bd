"""The transfer results file: each task's row saved as it is finished, reused by a re-run with the same arguments."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from selftaught._atomic import write_atomic
from selftaught.config import DEFAULT
from selftaught.errors import UserError

FORMAT = 1
#: Config fields that change how a transfer is carried out (parallelism, caps, credentials, the LM cache, where
#: run directories go), never its rows: not part of its key, so they may differ when a stopped transfer is re-run.
HOW_FIELDS = frozenset({"runs_dir", "transfer_tasks", "task", "iterations", "meta_utility_budget", "workers",
                        "executor", "ray_address", "speculate", "warm_workers", "api_key_env", "request_timeout",
                        "max_retries", "concurrency", "cache", "cache_path", "max_usd", "max_calls", "prices"})
#: Settings added after transfer files were first keyed (see `_added_default`).
ADDED_LATER = frozenset({"maximizer", "iterate"})
_MAX_BYTES = 64 << 20
#: What the file adds to the command's --json object (the rest is the output of the last invocation that measured).
_OWN_KEYS = frozenset({"rows", "complete", "format", "transfer_key", "task_fingerprints", "sessions", "invocation"})


def _version() -> str:
    try:
        return metadata.version("selftaught")
    except metadata.PackageNotFoundError:
        return "unknown"


def transfer_key(improver: str, seed_improver: str, config: dict[str, Any], secret_fingerprint: str) -> str:
    """What determines a transfer's rows: both improvers, the config but its `HOW_FIELDS`, the split secret (by its
    fingerprint), a `scripted:` replies file's bytes and the selftaught version. The tasks are not in it: rows are
    kept per task, each with its task's fingerprint."""
    blob = json.dumps({"improver": improver, "seed_improver": seed_improver, "secret": secret_fingerprint,
                       "config": {k: v for k, v in config.items() if k not in HOW_FIELDS and not _added_default(k, v)},
                       "version": _version(),
                       "replies": _scripted_digest(str(config.get("lm") or ""))},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _added_default(key: str, value: Any) -> bool:
    """A setting added after transfer files were first keyed, at its default: left out of the key, so a file saved
    before it existed keeps its key (and its rows are reused)."""
    return key in ADDED_LATER and value == getattr(DEFAULT, key)


def _scripted_digest(spec: str) -> str | None:
    """The digest of a `scripted:PATH` replies file (None for other backends, or a file the backend will refuse)."""
    kind, _, path = spec.partition(":")
    if kind.strip().lower() != "scripted":
        return None
    digest = hashlib.sha256()
    try:
        with open(path.strip(), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def default_path(runs_dir: str, improver_path: str, key: str) -> Path:
    """Where a transfer saves its rows without --out: RUNS_DIR/transfer-<improver file stem>-<key>.json."""
    return Path(runs_dir) / f"transfer-{Path(improver_path).stem}-{key}.json"


class TransferFile:
    """One transfer's results file (`--out`): the `selftaught transfer --json` object, rewritten atomically as each
    task's row is finished, plus what a re-run needs to resume: `transfer_key`, `task_fingerprints` (a row is
    reused only for the same task code), `complete` and `sessions` (one per invocation: what it measured, what it
    reused, how it stopped, its LM calls and dollars). `selftaught report --transfer FILE` reads it as it is.

    A file that exists is checked when opened: one of another transfer (another key), or not one at all, is
    refused with one line naming it; one of the same transfer lends its rows (stopped or complete: a row is a
    function of the key and its task). One transfer at a time may write a file.
    """

    def __init__(self, path: Path, key: str, invocation: dict[str, Any] | None = None) -> None:
        self.path = path
        self.key = key
        self.invocation = dict(invocation or {})  # what `transfer --resume FILE` re-runs: improver, config, tasks
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._fingerprints: dict[str, str] = {}
        self._sessions: list[dict[str, Any]] = []
        self._session: dict[str, Any] = {"started": round(time.time(), 3), "measured": [], "reused": [],
                                         "stopped": None}
        self._fields: dict[str, Any] = {}
        self._complete = False
        if path.is_dir():
            raise UserError(f"--out {path} is a directory: give a file, e.g. {path / 'transfer.json'}")
        if path.exists():
            self._load()
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot create the directory of {path} ({exc.strerror}): give --out a file in a "
                                "writable directory") from None

    def _load(self) -> None:
        refuse = "move it aside, or give --out another file"
        try:
            with open(self.path, "rb") as f:
                data = json.loads(f.read(_MAX_BYTES + 1).decode("utf-8"))
        except OSError as exc:
            raise UserError(f"cannot read {self.path} ({exc.strerror}): {refuse}") from None
        except (ValueError, RecursionError):
            raise UserError(f"{self.path} is not a transfer results file (not valid JSON): {refuse}") from None
        if not isinstance(data, dict) or not isinstance(data.get("transfer_key"), str):
            raise UserError(f"{self.path} is not a transfer results file written by `selftaught transfer` "
                            f"(it has no transfer_key): {refuse}")
        if data["transfer_key"] != self.key:
            raise UserError(f"{self.path} holds the rows of another transfer (another improver, config, split "
                            "secret or selftaught version): give --out another file, or delete it to measure anew")
        fingerprints = data.get("task_fingerprints")
        fingerprints = fingerprints if isinstance(fingerprints, dict) else {}
        for record in data.get("rows") or []:
            task = record.get("task") if isinstance(record, dict) else None
            if isinstance(task, str) and isinstance(fingerprints.get(task), str):
                self._rows[task] = record
                self._fingerprints[task] = fingerprints[task]
        sessions = data.get("sessions")
        self._sessions = [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []
        self._fields = {k: v for k, v in data.items() if k not in _OWN_KEYS}

    def finished(self, task: str, fingerprint: str) -> dict[str, Any] | None:
        """The row recorded for `task`, if it was measured with the same task code."""
        with self._lock:
            return self._rows.get(task) if self._fingerprints.get(task) == fingerprint else None

    def reuse(self, tasks: Sequence[str]) -> None:
        """Notes the rows this invocation reuses (in its session record)."""
        with self._lock:
            self._session["reused"] = list(tasks)

    def add(self, task: str, fingerprint: str, record: dict[str, Any], fields: dict[str, Any]) -> None:
        """Saves a finished row (with the command's other output `fields` as they are now)."""
        with self._lock:
            self._rows[task] = record
            self._fingerprints[task] = fingerprint
            self._session["measured"].append(task)
            self._fields = fields
            self._write()

    @property
    def rows(self) -> int:
        with self._lock:
            return len(self._rows)

    def close(self, fields: dict[str, Any], order: Sequence[str], *, stopped: str | None) -> None:
        """The last write of this invocation: rows in `order` first, whether all of them are there, how it stopped.
        A transfer that finished no row and found no file writes none; one that measured nothing (every row was
        reused) keeps the output fields (usage...) of the invocation that measured them, adding its session."""
        with self._lock:
            if self._session["measured"] or not self._fields:
                self._fields = fields
            self._session["stopped"] = stopped
            self._complete = stopped is None and all(task in self._rows for task in order)
            self._rows = {**{t: self._rows[t] for t in order if t in self._rows}, **self._rows}
            if self._rows or self.path.exists():
                self._write()

    def _write(self) -> None:
        session = {**self._session, "duration": round(time.time() - self._session["started"], 2)}
        usage = self._fields.get("usage")
        if isinstance(usage, dict):
            session["usage"] = {k: usage.get(k) for k in ("calls", "cost_usd")}
        data = {**self._fields, "rows": list(self._rows.values()), "complete": self._complete, "format": FORMAT,
                "transfer_key": self.key, "task_fingerprints": dict(self._fingerprints), "invocation": self.invocation,
                "sessions": [*self._sessions, session]}
        try:
            write_atomic(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise UserError(f"cannot write {self.path} ({exc.strerror}): give --out a file in a writable "
                            "directory") from None


def read_invocation(path: Path) -> dict[str, Any]:
    """What the transfer saved in `path` was run with (`invocation`: improver path and program, config, tasks), for
    `transfer --resume FILE`; one line if `path` is not a results file that holds it."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(_MAX_BYTES + 1).decode("utf-8"))
    except FileNotFoundError:
        raise UserError(f"no transfer results file {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror})") from None
    except (ValueError, RecursionError):
        raise UserError(f"{path} is not a transfer results file (not valid JSON)") from None
    invocation = data.get("invocation") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("transfer_key"), str):
        raise UserError(f"{path} is not a transfer results file written by `selftaught transfer`")
    if (not isinstance(invocation, dict) or not isinstance(invocation.get("improver_program"), str)
            or not isinstance(invocation.get("config"), dict) or not isinstance(invocation.get("tasks"), list)):
        raise UserError(f"{path} was written by an older selftaught and does not say what it was run with: run the "
                        "same `selftaught transfer` command again (with --out it) to continue it")
    if data.get("complete"):
        raise UserError(f"{path} is complete: there is nothing to resume")
    return invocation
