"""The wire format between orchestrator and workers: JSON lines, numpy arrays tagged, no code on decode.

Used on both sides. Decoding only ever builds JSON values and numeric numpy arrays of a
whitelisted dtype, so nothing a candidate sends can execute code in the orchestrator. A worker
may be hostile, so `decode` and `from_wire` check every limit below and fail with `WireError`
only, whatever the input; `to_wire` applies the same limits, so an honest value the worker can
encode is one the orchestrator accepts.

Arrays go as their elements (`data`, a JSON list), except in the orchestrator's messages to a worker,
where they may go as bytes (`bytes`: [offset, length] in the message's attachment, the raw
little-endian bytes that follow its line; see `to_wire`'s `attachment`): a task's inputs go so, which
saves encoding and parsing a JSON list of every element. Only the worker accepts them: the
orchestrator's decoding of what a worker sends refuses that form, as any other it does not know.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any

ND_TAG = "__ndarray__"
_DTYPES = {"b": "bool", "i": "int64", "u": "int64", "f": "float64"}
_TAG_KEYS = frozenset({ND_TAG, "shape", "data"})
ATTACHED = "attached"  # the key of a message's attachment length: that many bytes follow its line
_BYTES_KEYS = frozenset({ND_TAG, "shape", "bytes"})
_ITEM_BYTES = {"bool": 1, "int64": 8, "float64": 8}
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

# One line from a worker, newline excluded. The largest honest messages are an improver's program
# or a batch of LM prompts (kilobytes to a few megabytes) and a solution's output (a float64 takes
# about 20 bytes, a small int 2 to 8: 8 MiB holds 400,000 floats or a million ints, far above any
# task's output). It bounds what a hostile worker can make the orchestrator buffer and parse. The
# host's reader enforces it, the worker refuses to send more (its program fails as a solution's
# `bad_output` or an improver's `no_solution`); `decode` itself takes any length.
MAX_MESSAGE = 8 * 1024 * 1024
# Containers around any one node of a value: [[1]] puts 1 at depth 2. A message holds its values one
# level down (`{"op": "result", "output": value}`), so a whole message may nest one level deeper.
MAX_DEPTH = 64
MAX_MESSAGE_DEPTH = MAX_DEPTH + 1
# Digits of an integer outside arrays: room for any exact answer a task may want (2**3000, 450!),
# and far enough under Python's 4300-digit limit on int/str conversion that sums of candidate
# integers on the host still print and serialize (json.dumps raises past 4300 digits).
MAX_INT_DIGITS = 1000
# Arrays: numpy's historical dimension limit, and an element cap above anything that fits in one
# message (so it never binds on a worker's honest output) that keeps orchestrator-built arrays sane.
MAX_NDIM = 32
MAX_ARRAY_SIZE = 2**24

_INT_BOUND = 10**MAX_INT_DIGITS  # |n| < 10**1000: at most 1000 digits
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SCALARS = frozenset({str, int, float, bool, type(None)})
_CONTAINERS = frozenset({list, dict})
_FAST_LIST = 16  # lists at least this long are checked in bulk first (most are numbers)
_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone surrogate is not Unicode text: no UTF-8 encodes it


class WireError(ValueError):
    """A value cannot be put on the wire, or a message is malformed."""


def to_wire(value: Any, depth: int = 0, attachment: bytearray | None = None) -> Any:
    """Converts a Python value into JSON-ready data (raises WireError for anything else); with `attachment` (for
    a worker only), numpy arrays go there as bytes, and the data names where."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, bool):
        return value
    # Subclasses (numpy's float64 and str_, enums) go out as the plain type they extend.
    if isinstance(value, str):
        return _text(str.__str__(value))
    if isinstance(value, int):
        return _integer(int(value))
    if isinstance(value, float):
        value = float(value)
        return value if math.isfinite(value) else {ND_TAG: "float64", "shape": [], "data": [repr(value)]}
    if isinstance(value, (list, tuple)):
        if len(value) >= _FAST_LIST and _plain_values(value):
            return list(value)  # what the loop below makes of them, checked in bulk
        return [to_wire(v, depth + 1, attachment) for v in value]
    if isinstance(value, dict):
        if ND_TAG in value:
            raise WireError("reserved key in dict")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise WireError("dict keys must be strings")
            out[_text(str.__str__(k))] = to_wire(v, depth + 1, attachment)
        return out
    np = _numpy()
    if np is not None:
        if isinstance(value, np.ndarray):
            return _array_to_wire(value, attachment)
        if isinstance(value, np.generic):
            return to_wire(value.item(), depth)
    raise WireError(f"cannot send a value of type {type(value).__name__}")


def _array_to_wire(value: Any, attachment: bytearray | None = None) -> dict[str, Any]:
    kind = value.dtype.kind
    if kind not in _DTYPES:
        raise WireError(f"unsupported array dtype {value.dtype}")
    shape = list(value.shape)
    _check_shape(shape, value.size)
    if kind == "u" and value.size and int(value.max()) > _INT64_MAX:
        raise WireError("unsigned array values do not fit int64")
    if attachment is not None:  # its elements in C order, little-endian (tobytes copies in C order whatever the layout)
        target = _numpy().dtype(_DTYPES[kind]).newbyteorder("<")
        raw = (value if value.dtype == target else value.astype(target)).tobytes()
        span = [len(attachment), len(raw)]
        attachment += raw
        return {ND_TAG: _DTYPES[kind], "shape": shape, "bytes": span}
    flat = value.astype(_DTYPES[kind]).ravel().tolist()
    if kind == "f":
        flat = [v if math.isfinite(v) else repr(v) for v in flat]
    return {ND_TAG: _DTYPES[kind], "shape": shape, "data": flat}


def from_wire(data: Any, depth: int = 0, attachment: bytes | None = None) -> Any:
    """Rebuilds a value from wire data: JSON values and numpy arrays, nothing else; arrays in `attachment` are
    accepted only when it is given (the worker's decoding of the orchestrator's messages)."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    return _walk(data, depth, MAX_DEPTH, arrays=True, attachment=attachment)


def _walk(data: Any, depth: int, limit: int, arrays: bool, attachment: bytes | None = None) -> Any:
    """Checks wire data against every limit, copying it; tagged arrays become numpy arrays if `arrays`. Arrays in
    an attachment are refused without one (`arrays` false and an empty one: their tags are checked)."""
    kind = type(data)
    if kind is list:
        if not data:
            return []
        if depth >= limit:
            raise WireError("value nested too deeply")
        if len(data) >= _FAST_LIST and _plain_scalars(data):
            return list(data)
        return [_walk(v, depth + 1, limit, arrays, attachment) if type(v) in _CONTAINERS else _scalar(v)
                for v in data]
    if kind is dict:
        if ND_TAG in data:
            if attachment is not None and "bytes" in data:
                dtype, shape, span = _bytes_parts(data)
                return _attached_array(dtype, shape, span, attachment) if arrays else data
            dtype, shape, values = _array_parts(data)
            return _build_array(dtype, shape, values) if arrays else data
        if data and depth >= limit:
            raise WireError("value nested too deeply")
        return {
            _key(k): _walk(v, depth + 1, limit, arrays, attachment) if type(v) in _CONTAINERS else _scalar(v)
            for k, v in data.items()
        }
    return _scalar(data)


def _scalar(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is int:
        return _integer(value)
    if kind is float:
        if not math.isfinite(value):
            raise WireError("a number outside an array must be finite")
        return value
    if kind is bool or value is None:
        return value
    raise WireError(f"not wire data: {kind.__name__}")


def _plain_scalars(items: list[Any]) -> bool:
    """Whether `items` holds scalars only, each checked (the fast path for long lists of numbers)."""
    kinds = set(map(type, items))
    if not kinds <= _SCALARS:
        return False
    if int in kinds:
        ints = items if len(kinds) == 1 else [v for v in items if type(v) is int]
        if min(ints) <= -_INT_BOUND or max(ints) >= _INT_BOUND:
            raise WireError(f"integer of more than {MAX_INT_DIGITS} digits")
    if float in kinds:
        floats = items if len(kinds) == 1 else [v for v in items if type(v) is float]
        if not all(map(math.isfinite, floats)):
            raise WireError("a number outside an array must be finite")
    if str in kinds and not all(_is_text(v) for v in items if type(v) is str):
        raise WireError("string is not valid Unicode (lone surrogate)")
    return True


def _plain_values(items: list[Any] | tuple[Any, ...]) -> bool:
    """Whether `items` are plain scalars that go on the wire as they are (a non-finite float goes tagged: no)."""
    try:
        return _plain_scalars(list(items))
    except WireError:
        return False


def _key(key: Any) -> str:
    if type(key) is not str:
        raise WireError("dict keys must be strings")
    return _text(key)


def _text(text: str) -> str:
    if not _is_text(text):
        raise WireError("string is not valid Unicode (lone surrogate)")
    return text


def plain_text(text: str) -> str:
    """`text` with any lone surrogate replaced by "?": text that can always be sent (error messages, LM replies)."""
    return text if _is_text(text) else text.encode("utf-8", "replace").decode("utf-8")


def _is_text(text: str) -> bool:
    return text.isascii() or _SURROGATE.search(text) is None


def _integer(value: int) -> int:
    if not -_INT_BOUND < value < _INT_BOUND:
        raise WireError(f"integer of more than {MAX_INT_DIGITS} digits")
    return value


def _check_shape(shape: list[Any], size: int) -> None:
    if len(shape) > MAX_NDIM:
        raise WireError(f"array of more than {MAX_NDIM} dimensions")
    if not all(type(s) is int and 0 <= s <= MAX_ARRAY_SIZE for s in shape):
        raise WireError("array dimensions must be integers from 0 to MAX_ARRAY_SIZE")
    if size > MAX_ARRAY_SIZE:
        raise WireError(f"array of more than {MAX_ARRAY_SIZE} elements")
    if math.prod(shape) != size:
        raise WireError("array shape does not match its data")


def _array_parts(data: dict[Any, Any]) -> tuple[str, list[int], list[Any]]:
    """The dtype, shape and element values of a tagged array, every rule checked."""
    if data.keys() != _TAG_KEYS:
        raise WireError(f"a tagged array has exactly the keys {ND_TAG}, shape and data")
    dtype, shape, flat = data[ND_TAG], data["shape"], data["data"]
    if type(dtype) is not str or dtype not in _ELEMENTS:
        raise WireError("unsupported array dtype")
    if type(shape) is not list or type(flat) is not list:
        raise WireError("malformed array")
    _check_shape(shape, len(flat))
    return dtype, shape, _ELEMENTS[dtype](flat)


def _bytes_parts(data: dict[Any, Any]) -> tuple[str, list[int], tuple[int, int]]:
    """The dtype, shape and span (offset, length) in the attachment of an attached array, its tag checked."""
    if data.keys() != _BYTES_KEYS:
        raise WireError(f"an attached array has exactly the keys {ND_TAG}, shape and bytes")
    dtype, shape, span = data[ND_TAG], data["shape"], data["bytes"]
    if type(dtype) is not str or dtype not in _ITEM_BYTES:
        raise WireError("unsupported array dtype")
    if type(shape) is not list or type(span) is not list or len(span) != 2 or \
            not all(type(n) is int and n >= 0 for n in span):
        raise WireError("malformed array")
    size, rest = divmod(span[1], _ITEM_BYTES[dtype])
    if rest:
        raise WireError("an attached array's bytes are not whole elements")
    _check_shape(shape, size)
    return dtype, shape, (span[0], span[1])


def _attached_array(dtype: str, shape: list[int], span: tuple[int, int], attachment: bytes) -> Any:
    start, length = span
    if start + length > len(attachment):
        raise WireError("an attached array's bytes are past the attachment's end")
    raw = attachment[start: start + length]
    if dtype == "bool" and raw.translate(None, b"\x00\x01"):
        raise WireError("bool array data must be 0 or 1")
    np = _numpy()
    if np is None:  # pragma: no cover - numpy is a dependency
        raise WireError("numpy is needed to decode arrays")
    # a copy in native byte order: writable, as an array built from a list is
    array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    return array[()] if shape == [] else array


def _int64_elements(flat: list[Any]) -> list[Any]:
    if flat and (set(map(type, flat)) != {int} or min(flat) < _INT64_MIN or max(flat) > _INT64_MAX):
        raise WireError("int64 array data must be integers that fit int64")
    return flat


def _bool_elements(flat: list[Any]) -> list[Any]:
    kinds = set(map(type, flat))
    if not kinds <= {bool, int} or (int in kinds and not {v for v in flat if type(v) is int} <= {0, 1}):
        raise WireError("bool array data must be true, false, 0 or 1")
    return flat


def _float_elements(flat: list[Any]) -> list[Any]:
    kinds = set(map(type, flat))
    if kinds <= {float}:
        if not all(map(math.isfinite, flat)):
            raise WireError("float array data must be finite numbers or 'nan', 'inf', '-inf'")
        return flat
    if not kinds <= {float, int, str}:
        raise WireError("float array data must be numbers")
    return [_float_element(v) for v in flat]


def _float_element(value: Any) -> float:
    if type(value) is str:
        if value not in _NON_FINITE:
            raise WireError("float array data must be finite numbers or 'nan', 'inf', '-inf'")
        return _NON_FINITE[value]
    try:
        number = float(value)
    except OverflowError:
        raise WireError("float array value out of range") from None
    if not math.isfinite(number):
        raise WireError("float array data must be finite numbers or 'nan', 'inf', '-inf'")
    return number


_ELEMENTS: dict[str, Callable[[list[Any]], list[Any]]] = {
    "bool": _bool_elements,
    "int64": _int64_elements,
    "float64": _float_elements,
}


def _build_array(dtype: str, shape: list[int], values: list[Any]) -> Any:
    np = _numpy()
    if np is None:  # pragma: no cover - numpy is a dependency
        raise WireError("numpy is needed to decode arrays")
    try:
        array = np.array(values, dtype=dtype).reshape(shape)
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        raise WireError(f"malformed array: {exc}") from None
    return array[()] if shape == [] else array


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a dependency
        return None
    return numpy


def encode(message: dict[str, Any], attachment: bytes = b"") -> bytes:
    """One message as one line of JSON (values must already be wire data), then its `attachment` if any (the
    line says how long it is: ATTACHED)."""
    if attachment:
        message = {**message, ATTACHED: len(attachment)}
    try:
        text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return (text + "\n").encode() + attachment
    except (ValueError, TypeError, RecursionError) as exc:
        raise WireError(f"cannot encode message: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise WireError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise WireError(f"integer of more than {MAX_INT_DIGITS} digits")
    return int(digits)


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_BOUNDED_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_int=_bounded_int)


def decode(line: bytes, attached: bool = False) -> dict[str, Any]:
    """Parses one line into a message dict, every wire limit checked (raises WireError if it is not one).

    Tagged arrays stay tagged (checked): `from_wire` turns them into arrays. Arrays in an attachment are
    refused unless `attached` (the worker's decoding of the orchestrator's messages).
    """
    if not isinstance(line, (bytes, bytearray)):
        raise WireError("a message is bytes")
    # int() refuses more digits than the process-wide limit. While that is Python's default or
    # tighter, parsing stays cheap and the walk below applies our bound; if someone lifted it, a
    # hook refuses long literals before they are converted (a megabyte of digits takes seconds).
    process_limit = sys.get_int_max_str_digits()
    fast = 0 < process_limit <= sys.int_info.default_max_str_digits
    decoder = _DECODER if fast else _BOUNDED_DECODER
    try:
        message = decoder.decode(line.decode("utf-8"))
    except RecursionError:  # the C parser recurses once per level: deep nesting ends here
        raise WireError("message nested too deeply") from None
    except (ValueError, MemoryError) as exc:  # UnicodeDecodeError and WireError are ValueErrors
        raise WireError(f"malformed message: {exc}") from None
    if type(message) is not dict:
        raise WireError("a message must be a JSON object")
    checked: dict[str, Any] = _walk(message, 0, MAX_MESSAGE_DEPTH, arrays=False, attachment=b"" if attached else None)
    return checked
