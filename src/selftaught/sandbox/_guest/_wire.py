"""The wire format between orchestrator and workers: JSON lines, numpy arrays tagged, no code on decode.

Used on both sides. Decoding only ever builds JSON values and numeric numpy arrays of a
whitelisted dtype, so nothing a candidate sends can execute code in the orchestrator.
"""

from __future__ import annotations

import json
import math
from typing import Any

ND_TAG = "__ndarray__"
_DTYPES = {"b": "bool", "i": "int64", "u": "int64", "f": "float64"}
MAX_DEPTH = 64


class WireError(ValueError):
    """A value cannot be put on the wire, or a message is malformed."""


def to_wire(value: Any, depth: int = 0) -> Any:
    """Converts a Python value into JSON-ready data (raises WireError for anything else)."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {ND_TAG: "float64", "shape": [], "data": [repr(value)]}
    if isinstance(value, (list, tuple)):
        return [to_wire(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if ND_TAG in value:
            raise WireError("reserved key in dict")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise WireError("dict keys must be strings")
            out[k] = to_wire(v, depth + 1)
        return out
    np = _numpy()
    if np is not None:
        if isinstance(value, np.ndarray):
            kind = value.dtype.kind
            if kind not in _DTYPES:
                raise WireError(f"unsupported array dtype {value.dtype}")
            flat = value.astype(_DTYPES[kind]).ravel().tolist()
            if kind == "f":
                flat = [v if math.isfinite(v) else repr(v) for v in flat]
            return {ND_TAG: _DTYPES[kind], "shape": list(value.shape), "data": flat}
        if isinstance(value, np.generic):
            return to_wire(value.item(), depth + 1)
    raise WireError(f"cannot send a value of type {type(value).__name__}")


def from_wire(data: Any, depth: int = 0) -> Any:
    """Rebuilds a value from wire data: JSON values and numpy arrays, nothing else."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if isinstance(data, list):
        return [from_wire(v, depth + 1) for v in data]
    if isinstance(data, dict):
        if ND_TAG in data:
            return _array(data)
        return {k: from_wire(v, depth + 1) for k, v in data.items()}
    return data


def _array(data: dict[str, Any]) -> Any:
    np = _numpy()
    dtype = data.get(ND_TAG)
    shape = data.get("shape")
    flat = data.get("data")
    if dtype not in _DTYPES.values() or not isinstance(shape, list) or not isinstance(flat, list):
        raise WireError("malformed array")
    if not all(isinstance(s, int) and s >= 0 for s in shape) or math.prod(shape) != len(flat):
        raise WireError("array shape does not match its data")
    values = [float(v) if isinstance(v, str) and v in ("nan", "inf", "-inf") else v for v in flat]
    if not all(isinstance(v, (int, float)) and not isinstance(v, str) for v in values):
        raise WireError("array data must be numbers")
    if np is None:
        raise WireError("numpy is needed to decode arrays")
    array = np.array(values, dtype=dtype).reshape(shape)
    return array[()] if shape == [] else array


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a dependency
        return None
    return numpy


def encode(message: dict[str, Any]) -> bytes:
    """One message as one line of JSON (values must already be wire data)."""
    return (json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    """Parses one line into a message dict (raises WireError if it is not one)."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"malformed message: {exc}") from None
    if not isinstance(message, dict):
        raise WireError("a message must be a JSON object")
    return message
