"""The wire's limits where a hostile candidate meets them: the last value each accepts and the first it refuses.

The numbers written out here (64 levels, 1000 digits, 32 dimensions, 2**24 per dimension, 8 MiB, the
int64 range) are the protocol's documented limits, golden on purpose: moving one changes what a
candidate may return, so it must be a deliberate change of these tests too.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from selftaught.evaluate import evaluate
from selftaught.sandbox import LineReader, ProtocolError
from selftaught.sandbox._guest import _wire
from support import SumTask

DEPTH = 64  # containers around the deepest node of a value
INT_DIGITS = 1000  # digits of an integer outside arrays
NDIM = 32  # dimensions of an array
DIM = 2**24  # elements along one dimension, and in a whole array
MESSAGE = 8 * 1024 * 1024  # bytes of one line from a worker, newline excluded
INT64 = (-(2**63), 2**63 - 1)


def nested_lists(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = [leaf]
    return leaf


def nested_dicts(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = {"k": leaf}
    return leaf


def nested_mixed(levels: int, leaf: Any) -> Any:
    for level in range(levels):
        leaf = [leaf] if level % 2 else {"k": leaf}
    return leaf


NESTINGS = [nested_lists, nested_dicts, nested_mixed]


def crosses(value: Any) -> Any:
    """What the host gets when an honest worker returns `value`: to_wire, one line, decode, from_wire."""
    line = _wire.encode({"op": "result", "ok": True, "output": _wire.to_wire(value)})
    return _wire.from_wire(_wire.decode(line.rstrip(b"\n"))["output"])


def forged(output: str) -> bytes:
    """A result line a hostile worker writes by hand, with `output` as raw JSON text."""
    return b'{"op":"result","ok":true,"output":' + output.encode() + b"}"


def literal(value: Any) -> str:
    """`value` as JSON text, infinities written as the overflowing literals a hostile worker can send."""
    if type(value) is float and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    if type(value) is list:
        return "[" + ",".join(map(literal, value)) + "]"
    if type(value) is dict:
        return "{" + ",".join(f"{json.dumps(k)}:{literal(v)}" for k, v in value.items()) + "}"
    if value is None or type(value) in (str, int, float, bool):
        return json.dumps(value)
    raise TypeError(f"no JSON for {type(value).__name__}")


def host_refuses(value: Any) -> None:
    """Neither from_wire nor, when it can be written as JSON, decode lets `value` through."""
    with pytest.raises(_wire.WireError):
        _wire.from_wire(value)
    try:
        text = literal(value)
    except (TypeError, ValueError):  # not JSON at all (bytes, complex, numpy scalars): from_wire only
        return
    with pytest.raises(_wire.WireError):
        _wire.decode(forged(text))


def same_data(sent: Any, back: Any) -> bool:
    """Equal, and of the same Python types all the way down (True must not come back as 1)."""
    if type(sent) is not type(back):
        return False
    if isinstance(sent, list):
        return len(sent) == len(back) and all(map(same_data, sent, back))
    if isinstance(sent, dict):
        return sent.keys() == back.keys() and all(same_data(v, back[k]) for k, v in sent.items())
    return bool(sent == back)


# ---- nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("nest", NESTINGS)
def test_a_value_nested_64_containers_deep_crosses_and_65_is_refused_on_every_path(
    nest: Callable[[int, Any], Any],
) -> None:
    deepest = nest(DEPTH, 1)
    assert same_data(deepest, crosses(deepest))
    assert same_data(deepest, _wire.from_wire(deepest))
    assert same_data(deepest, _wire.decode(forged(json.dumps(deepest)))["output"])
    too_deep = nest(DEPTH + 1, 1)
    with pytest.raises(_wire.WireError, match="nested too deeply"):
        _wire.to_wire(too_deep)
    with pytest.raises(_wire.WireError, match="nested too deeply"):
        _wire.from_wire(too_deep)
    with pytest.raises(_wire.WireError, match="nested too deeply"):
        _wire.decode(forged(json.dumps(too_deep)))


@pytest.mark.parametrize("empty", [[], {}])
@pytest.mark.parametrize("nest", NESTINGS)
def test_a_container_may_sit_at_the_depth_limit_only_while_empty(
    nest: Callable[[int, Any], Any], empty: list[Any] | dict[str, Any]
) -> None:
    at_limit = nest(DEPTH, empty)  # nothing sits inside more than 64 containers
    assert same_data(at_limit, crosses(at_limit))
    assert same_data(at_limit, _wire.from_wire(at_limit))
    assert same_data(at_limit, _wire.decode(forged(json.dumps(at_limit)))["output"])
    beyond = nest(DEPTH + 1, empty)  # the empty container itself is inside 65
    with pytest.raises(_wire.WireError):
        _wire.to_wire(beyond)
    host_refuses(beyond)


@pytest.mark.parametrize("place", [_wire.to_wire, _wire.from_wire])
def test_a_value_placed_at_a_depth_is_checked_from_there_by_both_sides(place: Callable[..., Any]) -> None:
    assert place(1, depth=DEPTH) == 1
    assert place([], depth=DEPTH) == []
    assert place([1], depth=DEPTH - 1) == [1]
    for value, depth in ((1, DEPTH + 1), ([], DEPTH + 1), ([1], DEPTH), ({"k": 1}, DEPTH)):
        with pytest.raises(_wire.WireError, match="nested too deeply"):
            place(value, depth=depth)


def test_a_message_holds_a_value_of_the_full_depth_one_level_down() -> None:
    deepest = nested_dicts(DEPTH, "leaf")
    line = b'{"op":"result","audit":' + json.dumps(deepest).encode() + b"}"
    assert _wire.decode(line)["audit"] == deepest
    with pytest.raises(_wire.WireError, match="nested too deeply"):
        _wire.decode(b'{"op":"result","audit":' + json.dumps(nested_dicts(DEPTH + 1, "leaf")).encode() + b"}")


# ---- the reserved key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"__ndarray__": "int64", "shape": [], "data": [7]},  # a forged numpy scalar
        {"__ndarray__": "float64", "shape": [2], "data": [0.5, "nan"]},
        {"__ndarray__": 1},
        {"__ndarray__": "int64", "shape": [1], "data": [1], "note": "x"},
        [1, {"a": {"__ndarray__": "bool", "shape": [1], "data": [True]}}],  # anywhere in the value
    ],
)
def test_a_candidate_dict_using_the_reserved_array_key_cannot_be_sent(value: Any) -> None:
    with pytest.raises(_wire.WireError):
        _wire.to_wire(value)


def test_a_candidate_returning_a_forged_array_gets_bad_output_not_a_number(sum_task: SumTask) -> None:
    program = "def algorithm(a):\n    return {'__ndarray__': 'int64', 'shape': [], 'data': [int(a.sum())]}\n"
    result = evaluate(sum_task, program, "val")
    assert result.score == 0.0 and result.failures == {"bad_output": 4}


# ---- scalars, alone or among many ---------------------------------------------------------------

HONEST_SCALARS: list[Any] = [
    10**INT_DIGITS - 1, -(10**INT_DIGITS - 1), 10**400, -(2**64), 0, True, False, None,
    1e308, -0.0, 2.5, "", "plain", "\U0001f600 é", "\u00e9" * 3,
]
HOSTILE_SCALARS: list[Any] = [
    10**INT_DIGITS, -(10**INT_DIGITS), 10**4000, math.inf, -math.inf, math.nan,
    "\ud800", "a\udfffb", "é\ud83d", b"x", 1j, np.int64(1), (1,),
]
FILLERS: list[list[Any]] = [
    [7], [2.5], ["é"], ["x"], [None], [False], [7, 2.5], [7, "x"], [2.5, "é"], [7, None], [7, 2.5, "é", None, True],
]
LENGTHS = [1, 2, 15, 16, 17, 100]


def filled(filler: list[Any], length: int) -> list[Any]:
    return [filler[i % len(filler)] for i in range(length)]


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("filler", FILLERS, ids=repr)
def test_honest_scalars_cross_unchanged_in_lists_of_any_length_and_mix(filler: list[Any], length: int) -> None:
    for good in HONEST_SCALARS:
        for at in {0, length // 2, length - 1}:
            items = filled(filler, length)
            items[at] = good
            assert same_data(items, crosses(items))
            assert same_data(items, _wire.from_wire(items))
            assert same_data(items, _wire.decode(forged(literal(items)))["output"])


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("filler", FILLERS, ids=repr)
def test_one_hostile_scalar_anywhere_in_a_list_of_any_length_and_mix_is_refused(
    filler: list[Any], length: int
) -> None:
    for bad in HOSTILE_SCALARS:
        for at in {0, length // 2, length - 1}:
            items = filled(filler, length)
            items[at] = bad
            host_refuses(items)


def test_every_scalar_kind_beside_containers_in_a_long_list_still_has_the_containers_checked() -> None:
    scalars = [7, 2.5, "x", True, None] * 4
    tagged = {"__ndarray__": "int64", "shape": [2], "data": [1, 2]}
    back = _wire.from_wire([*scalars, tagged, {"k": [1]}])
    assert isinstance(back[-2], np.ndarray) and back[-2].tolist() == [1, 2] and back[-1] == {"k": [1]}
    for hostile in (["\ud800"], {"k": math.inf}, {"__ndarray__": "int64", "shape": [3], "data": [1]},
                    nested_lists(DEPTH, 1)):  # one level down, that one is too deep
        host_refuses([*scalars, hostile])


def test_integers_of_1000_digits_cross_and_1001_do_not_on_every_path() -> None:
    largest = 10**INT_DIGITS - 1
    for n in (largest, -largest):
        assert crosses(n) == n and crosses([n]) == [n]
        assert _wire.decode(forged(str(n)))["output"] == n
    for n in (largest + 1, -largest - 1):
        with pytest.raises(_wire.WireError, match="digits"):
            _wire.to_wire(n)
        host_refuses(n)
        host_refuses([n])


@pytest.fixture
def int_conversion_unlimited() -> Iterator[None]:
    """Python's process-wide limit on int/str conversion lifted, as some program in the process might do."""
    default = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(default)


@pytest.mark.usefixtures("int_conversion_unlimited")
def test_with_python_int_limit_lifted_integers_decode_up_to_1000_digits_and_no_more() -> None:
    largest = 10**INT_DIGITS - 1
    assert _wire.decode(forged(f"[{largest},{-largest},0,-7]"))["output"] == [largest, -largest, 0, -7]
    for n in (largest + 1, -largest - 1):
        with pytest.raises(_wire.WireError, match="digits"):
            _wire.decode(forged(str(n)))


@pytest.mark.usefixtures("int_conversion_unlimited")
def test_with_python_int_limit_lifted_a_huge_literal_is_refused_before_any_conversion() -> None:
    # Converting a million digits costs CPU-seconds (quadratic); refusing them by length costs milliseconds.
    line = forged("7" * 1_000_000)
    start = time.process_time()
    with pytest.raises(_wire.WireError, match="digits"):
        _wire.decode(line)
    assert time.process_time() - start < 0.5


# ---- tagged arrays ----------------------------------------------------------------------------


def tagged(dtype: str, shape: Any, data: Any) -> dict[str, Any]:
    return {"__ndarray__": dtype, "shape": shape, "data": data}


def test_arrays_of_32_dimensions_cross_and_33_are_refused() -> None:
    assert crosses(np.zeros((1,) * NDIM)).shape == (1,) * NDIM
    assert _wire.from_wire(tagged("int64", [1] * NDIM, [5])).shape == (1,) * NDIM
    assert _wire.decode(forged(json.dumps(tagged("int64", [1] * NDIM, [5]))))["output"]["shape"] == [1] * NDIM
    with pytest.raises(_wire.WireError):
        _wire.to_wire(np.zeros((1,) * (NDIM + 1)))
    host_refuses(tagged("int64", [1] * (NDIM + 1), [5]))


def test_an_array_dimension_may_hold_2_to_the_24_elements_and_no_more() -> None:
    assert crosses(np.zeros((DIM, 0))).shape == (DIM, 0)
    assert _wire.from_wire(tagged("float64", [0, DIM], [])).shape == (0, DIM)
    with pytest.raises(_wire.WireError):
        _wire.to_wire(np.zeros((DIM + 1, 0)))
    host_refuses(tagged("float64", [0, DIM + 1], []))


def test_an_array_of_more_than_2_to_the_24_elements_is_refused_even_when_each_dimension_fits() -> None:
    shape = (2**12 + 1, 2**12)
    with pytest.raises(_wire.WireError):
        _wire.to_wire(np.zeros(shape, dtype=bool))
    with pytest.raises(_wire.WireError):
        _wire.from_wire(tagged("bool", list(shape), [False] * math.prod(shape)))


def test_an_empty_array_whose_dimensions_numpy_cannot_index_is_a_wire_error() -> None:
    with pytest.raises(_wire.WireError, match="malformed array"):
        _wire.from_wire(tagged("float64", [DIM] * 4 + [0], []))


@pytest.mark.parametrize("dtype", [bool, np.int64, np.float64])
@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3), (3, 0, 2)])
def test_empty_arrays_cross_with_their_shape(dtype: type, shape: tuple[int, ...]) -> None:
    back = crosses(np.zeros(shape, dtype=dtype))
    assert isinstance(back, np.ndarray) and back.shape == shape and back.dtype == np.dtype(dtype)


def test_a_zero_dimensional_array_comes_back_as_a_numpy_scalar() -> None:
    for sent, kind in ((np.array(5), np.int64), (np.array(True), np.bool_), (np.array(np.inf), np.float64)):
        assert type(crosses(sent)) is kind and crosses(sent) == sent
    assert type(crosses(math.inf)) is np.float64
    back = _wire.from_wire(tagged("float64", [], ["-inf"]))
    assert type(back) is np.float64 and back == -math.inf


def test_int64_arrays_take_exactly_the_int64_range_when_decoded_too() -> None:
    low, high = INT64
    assert _wire.decode(forged(json.dumps(tagged("int64", [2], [low, high]))))["output"]["data"] == [low, high]
    for beyond in (low - 1, high + 1):
        host_refuses(tagged("int64", [1], [beyond]))
        host_refuses(tagged("int64", [3], [0, beyond, 0]))


@pytest.mark.parametrize(
    "data",
    [
        tagged("int64", [3], [1, 2]),  # the shape holds more than the data
        tagged("int64", [1], [1, 2]),
        tagged("int64", [], []),  # a 0-d array holds one element
        tagged("int64", [], [1, 2]),
        tagged("int64", [-1, -1], [1]),  # negative dimensions whose product looks right
        tagged("int64", [2, -1], [1, 2]),
        tagged("int64", 1, [1]),  # shape and data must be lists
        tagged("int64", [1], 1),
        tagged("int64", [0], ""),
        tagged("float64", [0], {}),
        tagged("bool", "1", [True]),
    ],
)
def test_tagged_arrays_that_break_a_rule_are_refused_by_decode_not_only_by_from_wire(data: Any) -> None:
    host_refuses(data)


@pytest.mark.parametrize("data", [[math.inf, 1], [1, -math.inf], [2.5, math.inf, "nan"]])
def test_an_overflowing_float_literal_in_a_mixed_float64_array_is_refused(data: list[Any]) -> None:
    host_refuses(tagged("float64", [len(data)], data))


# ---- whole messages ---------------------------------------------------------------------------


def test_a_message_is_bytes_or_a_bytearray_and_nothing_else() -> None:
    assert _wire.decode(bytearray(b'{"op":"ready"}')) == {"op": "ready"}
    for line in ('{"op":"ready"}', memoryview(b'{"op":"ready"}'), None, 1):
        with pytest.raises(_wire.WireError):
            _wire.decode(line)  # type: ignore[arg-type]  # what a careless caller might pass


def test_encode_refuses_what_json_cannot_carry_with_a_wire_error() -> None:
    for message in ({"op": "x", "v": math.nan}, {"op": "x", "v": object()}, {"op": "x", "v": nested_lists(100_000, 1)}):
        with pytest.raises(_wire.WireError):
            _wire.encode(message)


def test_plain_text_replaces_each_lone_surrogate_and_keeps_real_text() -> None:
    for text in ("", "plain", "\U0001f600 é", "\u00e9\u4e2d"):
        assert _wire.plain_text(text) == text
    assert _wire.plain_text("é\ud800x\udfff") == "é?x?"
    assert _wire.plain_text("a\ud800") == "a?"
    assert crosses(_wire.plain_text("\ud83d alone")) == "? alone"


def _read_one_line(line: bytes) -> dict[str, Any]:
    """Writes `line` into a pipe from another thread and reads it with the host's default reader."""
    read_end, write_end = os.pipe()

    def write() -> None:
        view = memoryview(line)
        with contextlib.suppress(OSError):  # the reader gave up on the line and closed its end
            while view:
                view = view[os.write(write_end, view) :]

    writer = threading.Thread(target=write)
    writer.start()
    try:
        return LineReader(read_end).receive(timeout=30)
    finally:
        os.close(read_end)
        writer.join(timeout=30)
        os.close(write_end)


def test_the_host_reads_a_line_of_exactly_8_mib_and_refuses_one_byte_more() -> None:
    envelope = len(forged('""'))
    exact = forged('"' + "x" * (MESSAGE - envelope) + '"')
    assert len(exact) == MESSAGE
    assert len(_read_one_line(exact + b"\n")["output"]) == MESSAGE - envelope
    with pytest.raises(ProtocolError, match="longer than"):
        _read_one_line(forged('"' + "x" * (MESSAGE - envelope + 1) + '"') + b"\n")
