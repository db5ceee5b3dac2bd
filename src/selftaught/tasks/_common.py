"""Shared helpers of the built-in tasks: reading their data files and validating outputs strictly."""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

_NUMERIC_KINDS = "biuf"  # bool, signed int, unsigned int, float


def read_data(task_name: str, filename: str) -> str:
    """The text of `data/<task_name>/<filename>` shipped in the package."""
    return resources.files("selftaught.tasks").joinpath("data", task_name, filename).read_text(encoding="utf-8")


def _is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float))


def binary_vector(output: Any, length: int) -> npt.NDArray[np.int64] | None:
    """`output` as a vector of exactly `length` zeros and ones, or None if it is anything else.

    Accepts a 1-D numpy array of a numeric dtype or a flat list of numbers; every value must
    equal 0 or 1 (True/False and 0.0/1.0 count). Wrong shape, length, nesting or values: None.
    """
    if isinstance(output, np.ndarray):
        if output.ndim != 1 or output.shape[0] != length or output.dtype.kind not in _NUMERIC_KINDS:
            return None
        values = output
    elif isinstance(output, list):
        if len(output) != length or not all(_is_number(v) for v in output):
            return None
        if not all(v == 0 or v == 1 for v in output):
            return None
        values = np.array([int(v) for v in output], dtype=np.int64)
    else:
        return None
    if not bool(np.all((values == 0) | (values == 1))):  # NaN fails both comparisons
        return None
    return values.astype(np.int64)


def permutation(output: Any, n: int) -> npt.NDArray[np.int64] | None:
    """`output` as a permutation of 0..n-1 (a list of ints or a 1-D integer array), or None."""
    if isinstance(output, np.ndarray):
        if output.ndim != 1 or output.dtype.kind not in "iu":
            return None
        values = output.astype(np.int64)
    elif isinstance(output, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in output):
            return None
        if not all(0 <= v < n for v in output):
            return None
        values = np.array(output, dtype=np.int64)
    else:
        return None
    if values.shape != (n,) or not np.array_equal(np.sort(values), np.arange(n)):
        return None
    return values
