"""The `scripted` backend: canned replies read from a JSON or JSONL file, chosen by substring match."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from selftaught._files import read_capped
from selftaught.errors import UserError
from selftaught.lm._base import CompletionRequest, OfflineBackend

_KEYS = frozenset({"match", "response"})
MAX_SCRIPT_BYTES = 64 << 20  # a scripted-replies file: room for thousands of long replies


@dataclass(frozen=True)
class ScriptEntry:
    """One scripted reply; `match` None matches every request."""

    response: str
    match: str | None = None

    def matches(self, request: CompletionRequest) -> bool:
        return self.match is None or self.match in request.system or self.match in request.message


class ScriptedBackend(OfflineBackend):
    """Replies with scripted text: sample k of a request gets the k-th (cycling) matching entry.

    Built from a path to a JSON file (a list of entries) or a JSONL file (one entry per line),
    or directly from a list of entries. An entry is a string (matches every request) or an
    object `{"match": "substring", "response": "..."}` (without "match": matches every request).
    """

    name = "scripted"

    def __init__(self, source: str | PathLike[str] | Sequence[object]) -> None:
        if isinstance(source, (str, PathLike)):
            self.source = str(source)
            raw = _load(Path(source))
        else:
            self.source = "<entries>"
            raw = list(source)
        self.entries = _validate(raw, self.source)
        self.notice = f"scripted: replies come from {self.source}; no language model is used"
        self.unmatched = 0  # requests no entry matched (answered with a reply that says so)
        self._lock = threading.Lock()

    def complete(self, request: CompletionRequest) -> list[str]:
        matching = [entry for entry in self.entries if entry.matches(request)]
        first = request.first_sample
        if not matching:
            with self._lock:
                self.unmatched += 1
            reply = (f"No scripted reply matches this request ({len(self.entries)} entries in "
                     f"{self.source}, none of whose 'match' occurs in the system prompt or message).")
            return [reply] * request.n
        return [matching[k % len(matching)].response for k in range(first, first + request.n)]


def _load(path: Path) -> list[object]:
    """The raw entries of a JSON or JSONL file (JSONL by suffix, or when the text is not one JSON value)."""
    text = read_capped(str(path), "scripted replies", MAX_SCRIPT_BYTES)
    if path.suffix.lower() != ".jsonl":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json" or len(text.strip().splitlines()) < 2:
                raise UserError(f"scripted replies {path}: invalid JSON: {exc}") from None
        else:
            if not isinstance(data, list):
                raise UserError(f"scripted replies {path}: expected a JSON list of entries, "
                                f"got {_kind(data)}")
            return data
    entries: list[object] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UserError(f"scripted replies {path}: line {number} is not valid JSON: {exc}") from None
    return entries


def _validate(raw: list[object], source: str) -> list[ScriptEntry]:
    if not raw:
        raise UserError(f"scripted replies {source}: no entries (need at least one reply)")
    entries: list[ScriptEntry] = []
    for number, item in enumerate(raw, 1):
        where = f"scripted replies {source}: entry {number}"
        if isinstance(item, str):
            entries.append(ScriptEntry(item))
            continue
        if not isinstance(item, dict):
            raise UserError(f"{where} is {_kind(item)}; expected a string or an object with \"response\"")
        unknown = sorted(str(key) for key in item if key not in _KEYS)
        if unknown:
            raise UserError(f"{where} has unknown key(s) {', '.join(unknown)}; "
                            f"allowed: \"match\", \"response\"")
        response, match = item.get("response"), item.get("match")
        if not isinstance(response, str):
            raise UserError(f"{where} needs \"response\" as a string, got {_kind(response)}")
        if match is not None and not isinstance(match, str):
            raise UserError(f"{where} needs \"match\" as a string, got {_kind(match)}")
        entries.append(ScriptEntry(response, match))
    return entries


def _kind(value: object) -> str:
    if value is None:
        return "nothing (missing or null)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
             dict: "an object"}
    return names.get(type(value), f"a {type(value).__name__}")

