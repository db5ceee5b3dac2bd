"""Shared helpers of the built-in tasks: reading their data files and validating outputs strictly."""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from selftaught.tasks._base import BadOutput

_NUMERIC_KINDS = "biuf"  # bool, signed int, unsigned int, float
#: Bytes one item of an output may take on the wire: the longest float repr (24 characters, as in
#: -1.2345678901234567e-300) or an escaped character, and a separator.
ITEM_BYTES = 32
#: Bytes around an output's items: brackets, a numpy array's tag and shape, quotes.
OUTPUT_OVERHEAD = 1024


def output_bytes(items: int) -> int:
    """A task's `max_output_bytes` when its output is `items` numbers (or characters), in any form it accepts."""
    return OUTPUT_OVERHEAD + ITEM_BYTES * items


def read_data(task_name: str, filename: str) -> str:
    """The text of `data/<task_name>/<filename>` shipped in the package."""
    return resources.files("selftaught.tasks").joinpath("data", task_name, filename).read_text(encoding="utf-8")


def describe(value: Any) -> str:
    """A short description of a candidate's output, for BadOutput messages."""
    if isinstance(value, np.ndarray):
        return f"a numpy {value.dtype} array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a list of {len(value)} items ({', '.join(kinds[:4]) or 'empty'})"
    if isinstance(value, str):
        return f"a string of length {len(value)}"
    if value is None:
        return "None"
    return f"a {type(value).__name__} ({value!r:.40})"


def _is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float))


def binary_vector(output: Any, length: int, what: str = "values") -> npt.NDArray[np.int64]:
    """`output` as a vector of exactly `length` zeros and ones; BadOutput for anything else.

    Accepts a 1-D numpy array of a numeric dtype or a flat list of numbers; every value must
    equal 0 or 1 (True/False and 0.0/1.0 count). Wrong shape, length, nesting or values: BadOutput.
    """
    expected = f"expected {length} {what}, each 0 or 1 (a list or a 1-D array)"
    if isinstance(output, np.ndarray):
        if output.ndim != 1 or output.shape[0] != length or output.dtype.kind not in _NUMERIC_KINDS:
            raise BadOutput(f"{expected}; got {describe(output)}")
        values = output
    elif isinstance(output, list):
        if len(output) != length or not all(_is_number(v) for v in output):
            raise BadOutput(f"{expected}; got {describe(output)}")
        if not all(v == 0 or v == 1 for v in output):
            raise BadOutput(f"{expected}; got other values")
        values = np.array([int(v) for v in output], dtype=np.int64)
    else:
        raise BadOutput(f"{expected}; got {describe(output)}")
    if not bool(np.all((values == 0) | (values == 1))):  # NaN fails both comparisons
        raise BadOutput(f"{expected}; got other values")
    return values.astype(np.int64)


def permutation(output: Any, n: int) -> npt.NDArray[np.int64]:
    """`output` as a permutation of 0..n-1 (a list of ints or a 1-D integer array); BadOutput otherwise."""
    expected = f"expected a permutation of 0..{n - 1} (a list of ints or a 1-D integer array)"
    values = int_vector(output, n, expected)
    if values.shape != (n,) or not np.array_equal(np.sort(values), np.arange(n)):
        raise BadOutput(f"{expected}; got {describe(output)} that is not one")
    return values


def int_vector(output: Any, n: int, expected: str) -> npt.NDArray[np.int64]:
    """`output` as a 1-D vector of ints (a 1-D integer array, or a list of ints each in 0..n-1); BadOutput saying
    `expected` otherwise. Its length, and an array's values, are the caller's to check."""
    if isinstance(output, np.ndarray):
        if output.ndim != 1 or output.dtype.kind not in "iu":
            raise BadOutput(f"{expected}; got {describe(output)}")
        values = output.astype(np.int64)
    elif isinstance(output, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in output):
            raise BadOutput(f"{expected}; got {describe(output)}")
        if not all(0 <= v < n for v in output):
            raise BadOutput(f"{expected}; got values outside 0..{n - 1}")
        values = np.array(output, dtype=np.int64)
    else:
        raise BadOutput(f"{expected}; got {describe(output)}")
    return values
