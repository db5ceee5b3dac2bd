"""Reads the parts of a reproduce.json record: a missing or null part is None, a mistyped one a one-line UserError."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from selftaught.errors import UserError

FORMAT_VERSION = 1
WHAT = "reproduce.json"


def _fail(path: str, expected: str, value: Any) -> UserError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return UserError(f"{WHAT}: {path} must be {expected} (got {shown}); the study record is malformed")


def mapping(value: Any, path: str) -> Mapping[str, Any] | None:
    """A JSON object, None when missing or null."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(path, "an object", value)
    return value


def items(value: Any, path: str) -> list[Any]:
    """A JSON array ([] when missing or null)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, "a list", value)
    return value


def number(value: Any, path: str) -> float | None:
    """A finite number, None when missing, null or not finite (NaN: a figure over no value)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "a number", value)
    return float(value) if math.isfinite(value) else None


def integer(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "an integer", value)
    return value


def text(value: Any, path: str) -> str | None:
    """A string; a number is shown as its text (a seed, a count), anything else refused."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _fail(path, "a string", value)


def flag(value: Any, path: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _fail(path, "true or false", value)
    return value


def pair(value: Any, path: str) -> tuple[float, float] | None:
    """An interval `[low, high]`, None when missing or null (or not finite)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(path, "a list [low, high]", value)
    low, high = number(value[0], f"{path}[0]"), number(value[1], f"{path}[1]")
    return (low, high) if low is not None and high is not None else None


def spread(value: Any, path: str) -> dict[str, Any] | None:
    """A SPREAD (mean, std, min, max, low, high, n, values over seeds), checked; None when missing or null."""
    data = mapping(value, path)
    if data is None:
        return None
    out: dict[str, Any] = {k: number(data.get(k), f"{path}.{k}") for k in ("mean", "std", "min", "max", "low", "high")}
    out["n"] = integer(data.get("n"), f"{path}.n")
    values = items(data.get("values"), f"{path}.values")
    out["values"] = [number(v, f"{path}.values[{i}]") for i, v in enumerate(values)]
    return out if out["mean"] is not None else None


def counts(value: Any, path: str) -> dict[str, int] | None:
    """A `{name: count}` object (names are run text: shown escaped), None when missing or null."""
    data = mapping(value, path)
    if data is None:
        return None
    out: dict[str, int] = {}
    for key, count in data.items():
        n = integer(count, f"{path}[{key!r}]")
        out[str(key)] = n if n is not None else 0
    return out


def check_header(record: Any) -> Mapping[str, Any]:
    """The record itself: an object of kind `reproduce`, of a format this selftaught reads."""
    if not isinstance(record, Mapping):
        raise UserError(f"{WHAT} must hold a JSON object (got {type(record).__name__}); the study record is malformed")
    kind = record.get("kind")
    if kind is not None and kind != "reproduce":
        raise _fail("kind", "'reproduce'", kind)
    version = record.get("format_version")
    if version is None:
        raise UserError(f"{WHAT} has no format_version: not a study record (written by `selftaught reproduce`)")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail("format_version", "an integer", version)
    if version > FORMAT_VERSION:
        raise UserError(f"{WHAT} was written in study format version {version}; this selftaught reads up to version "
                        f"{FORMAT_VERSION} (upgrade selftaught to report on it)")
    return record
