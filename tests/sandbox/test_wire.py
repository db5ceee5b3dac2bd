"""The wire format carries data only: arrays and JSON values round-trip, nothing else decodes."""

from __future__ import annotations

import numpy as np
import pytest

from selftaught.sandbox._guest import _wire


def test_arrays_keep_dtype_kind_and_shape() -> None:
    value = [np.arange(6).reshape(2, 3), np.array([0.5, np.nan]), np.array([True, False])]
    back = _wire.from_wire(_wire.to_wire(value))
    assert back[0].shape == (2, 3) and back[0].dtype.kind == "i" and back[0].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back[1][0] == 0.5 and np.isnan(back[1][1])
    assert back[2].dtype == bool


def test_tuples_become_lists_and_numpy_scalars_python_scalars() -> None:
    back = _wire.from_wire(_wire.to_wire((np.int64(3), np.float64(1.5), "x", None, {"k": (1, 2)})))
    assert back == [3, 1.5, "x", None, {"k": [1, 2]}]
    assert type(back[0]) is int


@pytest.mark.parametrize("value", [object(), {1: 2}, np.array(["a"], dtype=object), lambda: 0])
def test_values_that_are_not_data_are_refused(value: object) -> None:
    with pytest.raises(_wire.WireError):
        _wire.to_wire(value)


@pytest.mark.parametrize(
    "data",
    [
        {"__ndarray__": "object", "shape": [1], "data": [1]},
        {"__ndarray__": "int64", "shape": [3], "data": [1, 2]},
        {"__ndarray__": "int64", "shape": [1], "data": ["__import__('os')"]},
    ],
)
def test_malformed_or_hostile_arrays_do_not_decode(data: dict[str, object]) -> None:
    with pytest.raises(_wire.WireError):
        _wire.from_wire(data)


def test_a_message_must_be_one_json_object() -> None:
    assert _wire.decode(_wire.encode({"op": "x", "v": [1]})) == {"op": "x", "v": [1]}
    with pytest.raises(_wire.WireError):
        _wire.decode(b"[1, 2]")
    with pytest.raises(_wire.WireError):
        _wire.decode(b"\x80\x04K\x01.")  # a pickle is not a message
