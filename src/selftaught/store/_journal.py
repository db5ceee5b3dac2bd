"""The evaluation journal: every finished evaluation of a run, one JSON line each, so a resumed run reuses it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from selftaught._atomic import truncate_torn_tail

EvaluationKey = tuple[str, str, str]  # (task, split, program hash)


class EvaluationJournal:
    """`evaluations.jsonl`: appended and flushed as each evaluation finishes; loaded whole when a run resumes.

    A torn last line (the process was killed mid-write) is cut on open; a line that is not a record (garbage
    written into the file) is skipped and counted in `skipped`; the first record of a key wins.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: dict[EvaluationKey, dict[str, Any]] = {}
        truncate_torn_tail(path)
        #: lines that are not a record (garbage written over or after the log): skipped, counted, left in place
        self.skipped = 0
        if path.exists():
            with open(path, "rb") as f:
                for raw in f:
                    if not raw.strip():
                        continue
                    try:
                        item = json.loads(raw.decode("utf-8"))
                        key = (str(item["task"]), str(item["split"]), str(item["program"]))
                        record = item["evaluation"]
                    except (ValueError, KeyError, TypeError, RecursionError):
                        self.skipped += 1
                        continue
                    if isinstance(record, dict):
                        self._records.setdefault(key, record)
                    else:
                        self.skipped += 1
        self.loaded = len(self._records)
        self.reused = 0
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def get(self, key: EvaluationKey) -> dict[str, Any] | None:
        """The recorded evaluation under `key` (counted as reused), or None."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                self.reused += 1
            return record

    def put(self, key: EvaluationKey, record: dict[str, Any]) -> None:
        """Records a finished evaluation (one line, flushed), unless one is recorded under `key` already."""
        line = json.dumps({"task": key[0], "split": key[1], "program": key[2], "evaluation": record},
                          ensure_ascii=False, allow_nan=True)
        with self._lock:
            if key in self._records or self._file.closed:
                return
            self._records[key] = record
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
