"""The wire format carries data only: arrays and JSON values round-trip, nothing else decodes."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import numpy as np
import pytest

from selftaught.broker import TaskUtility, run_improver
from selftaught.evaluate import evaluate
from selftaught.sandbox import LineReader, ProtocolError
from selftaught.sandbox._channel import READ_CHUNK
from selftaught.sandbox._guest import _wire
from support import SumTask, make_services


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


# What a hostile worker sent that used to end `selftaught score` with a traceback: each is now a
# WireError from the decoder (and a ProtocolError from the host's reader, see test_line_reader.py).


def _message(output: str) -> bytes:
    return b'{"op":"result","ok":true,"output":' + output.encode() + b"}"


def test_an_int64_array_value_beyond_int64_is_a_wire_error_not_an_overflow() -> None:
    tagged = '{"__ndarray__":"int64","shape":[1],"data":[1000000000000000000000000000000]}'
    with pytest.raises(_wire.WireError, match="fit int64"):
        _wire.decode(_message(tagged))
    with pytest.raises(_wire.WireError, match="fit int64"):
        _wire.from_wire({"__ndarray__": "int64", "shape": [1], "data": [10**30]})


def test_int64_arrays_take_exactly_the_int64_range() -> None:
    edges = [-(2**63), 2**63 - 1]
    back = _wire.from_wire({"__ndarray__": "int64", "shape": [2], "data": edges})
    assert back.dtype == np.int64 and back.tolist() == edges
    for beyond in (-(2**63) - 1, 2**63):
        with pytest.raises(_wire.WireError):
            _wire.from_wire({"__ndarray__": "int64", "shape": [1], "data": [beyond]})


def test_deep_nesting_is_a_wire_error_not_a_recursion_error() -> None:
    with pytest.raises(_wire.WireError, match="nested too deeply"):
        _wire.decode(b'{"op":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_a_value_nested_to_max_depth_crosses_and_one_level_more_does_not() -> None:
    def nested(levels: int) -> object:
        value: object = 1
        for _ in range(levels):
            value = [value]
        return value

    deepest = nested(_wire.MAX_DEPTH)  # the 1 sits inside MAX_DEPTH lists
    line = _wire.encode({"op": "result", "output": _wire.to_wire(deepest)})
    assert _wire.from_wire(_wire.decode(line)["output"]) == deepest
    with pytest.raises(_wire.WireError):
        _wire.to_wire(nested(_wire.MAX_DEPTH + 1))
    too_deep = b'{"op":"result","output":' + b"[" * (_wire.MAX_DEPTH + 1) + b"1" + b"]" * (_wire.MAX_DEPTH + 1) + b"}"
    with pytest.raises(_wire.WireError, match="nested too deeply"):
        _wire.decode(too_deep)


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_non_finite_number_literals_are_wire_errors(literal: str) -> None:
    with pytest.raises(_wire.WireError):
        _wire.decode(_message(literal))
    with pytest.raises(_wire.WireError):
        _wire.decode(_message(f'{{"__ndarray__":"float64","shape":[1],"data":[{literal}]}}'))


def test_non_finite_floats_cross_the_wire_as_tagged_strings() -> None:
    value = [np.array([1.5, np.inf, -np.inf, np.nan]), float("inf"), np.float64("-inf")]
    back = _wire.from_wire(_wire.decode(_wire.encode({"op": "result", "output": _wire.to_wire(value)}))["output"])
    assert back[0].dtype == np.float64 and back[0][:3].tolist() == [1.5, np.inf, -np.inf] and np.isnan(back[0][3])
    assert back[1] == np.inf and back[2] == -np.inf


def test_integers_outside_arrays_may_have_max_int_digits_and_no_more() -> None:
    largest = 10**_wire.MAX_INT_DIGITS - 1
    line = _wire.encode({"op": "result", "output": _wire.to_wire([largest, -largest])})
    assert _wire.decode(line)["output"] == [largest, -largest]
    with pytest.raises(_wire.WireError, match="digits"):
        _wire.to_wire(largest + 1)
    with pytest.raises(_wire.WireError, match="digits"):
        _wire.decode(_message("1" + "0" * _wire.MAX_INT_DIGITS))


def test_long_integer_literals_are_refused_even_where_python_would_convert_them() -> None:
    line = _message("7" * 200_000)
    default = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # lifted: int() alone would spend seconds on such literals
    try:
        with pytest.raises(_wire.WireError, match="digits"):
            _wire.decode(line)
    finally:
        sys.set_int_max_str_digits(default)
    with pytest.raises(_wire.WireError, match="digits"):
        _wire.decode(line)


def test_strings_must_be_unicode_text() -> None:
    with pytest.raises(_wire.WireError, match="surrogate"):
        _wire.decode(_message('"\\ud800"'))
    with pytest.raises(_wire.WireError, match="surrogate"):
        _wire.decode(b'{"op":"x","\\udfff":1}')
    with pytest.raises(_wire.WireError, match="utf-8"):
        _wire.decode(b'{"op":"result","output":"\xff"}')
    with pytest.raises(_wire.WireError, match="surrogate"):
        _wire.to_wire({"text": "\ud800"})
    assert _wire.decode(_message('"\\ud83d\\ude00 \\u00e9"'))["output"] == "\U0001f600 é"  # a pair is one character


@pytest.mark.parametrize(
    "data",
    [
        {"__ndarray__": "int64", "shape": [1], "data": [1], "extra": 0},
        {"__ndarray__": "int64", "shape": [1]},
        {"__ndarray__": "int32", "shape": [1], "data": [1]},
        {"__ndarray__": ["int64"], "shape": [1], "data": [1]},
        {"__ndarray__": "int64", "shape": [-1], "data": []},
        {"__ndarray__": "int64", "shape": [True], "data": [1]},
        {"__ndarray__": "int64", "shape": [1.0], "data": [1]},
        {"__ndarray__": "int64", "shape": [2**70, 0], "data": []},
        {"__ndarray__": "int64", "shape": [1] * 33, "data": [1]},
        {"__ndarray__": "int64", "shape": [1], "data": [True]},
        {"__ndarray__": "int64", "shape": [1], "data": [1.5]},
        {"__ndarray__": "int64", "shape": [1], "data": ["nan"]},
        {"__ndarray__": "bool", "shape": [1], "data": [2]},
        {"__ndarray__": "bool", "shape": [1], "data": [0.0]},
        {"__ndarray__": "float64", "shape": [1], "data": ["1.5"]},
        {"__ndarray__": "float64", "shape": [1], "data": [True]},
        {"__ndarray__": "float64", "shape": [1], "data": [[1.0]]},
        {"__ndarray__": "float64", "shape": [1], "data": [10**400]},
    ],
)
def test_tagged_arrays_that_break_a_rule_do_not_decode(data: dict[str, object]) -> None:
    with pytest.raises(_wire.WireError):
        _wire.from_wire(data)
    with pytest.raises(_wire.WireError):  # nor does a message holding one, wherever it is
        _wire.decode(_wire.encode({"op": "result", "ok": True, "audit": {"samples": [data]}}))


def test_bool_and_float_arrays_take_the_numbers_their_dtype_means() -> None:
    flags = _wire.from_wire({"__ndarray__": "bool", "shape": [4], "data": [True, False, 0, 1]})
    assert flags.dtype == bool and flags.tolist() == [True, False, False, True]
    floats = _wire.from_wire({"__ndarray__": "float64", "shape": [2, 1], "data": [3, "-inf"]})
    assert floats.dtype == np.float64 and floats.tolist() == [[3.0], [-np.inf]]


def test_arrays_numpy_holds_but_the_host_would_refuse_are_refused_by_to_wire() -> None:
    with pytest.raises(_wire.WireError, match="int64"):
        _wire.to_wire(np.array([2**63], dtype=np.uint64))
    assert _wire.from_wire(_wire.to_wire(np.array([2**63 - 1], dtype=np.uint64))).tolist() == [2**63 - 1]
    with pytest.raises(_wire.WireError, match="dimensions"):
        _wire.to_wire(np.zeros((1,) * (_wire.MAX_NDIM + 1)))
    assert _wire.from_wire(_wire.to_wire(np.zeros((1,) * _wire.MAX_NDIM))).shape == (1,) * _wire.MAX_NDIM


@pytest.mark.parametrize(
    "line", [b"", b"   ", b"\xef\xbb\xbf{}", b'{"a":1', b"null", b"\x00", '{"a":"é"}'.encode("utf-16")]
)
def test_lines_that_are_not_a_json_object_in_utf8_are_wire_errors(line: bytes) -> None:
    with pytest.raises(_wire.WireError):
        _wire.decode(line)


def test_from_wire_refuses_python_objects_that_json_never_yields() -> None:
    for value in [(1, 2), {1: 2}, b"x", 1j, {"k": object()}, float("nan"), [np.int64(1)]]:
        with pytest.raises(_wire.WireError):
            _wire.from_wire(value)


def test_a_64_mib_line_is_a_protocol_error_after_reading_about_max_message() -> None:
    read_end, write_end = os.pipe()
    written = 0

    def flood() -> None:
        nonlocal written
        block = b"x" * (1 << 20)
        with contextlib.suppress(OSError):
            for _ in range(64):
                written += os.write(write_end, block)

    writer = threading.Thread(target=flood)
    writer.start()
    try:
        with pytest.raises(ProtocolError, match="longer than"):
            LineReader(read_end).receive(timeout=10)
    finally:
        os.close(read_end)  # the writer, blocked on a full pipe, gets EPIPE
        writer.join(timeout=10)
        os.close(write_end)
    assert not writer.is_alive()
    assert _wire.MAX_MESSAGE < written <= _wire.MAX_MESSAGE + READ_CHUNK + (1 << 20)


HOSTILE_LINES = {  # Python expressions, evaluated in the candidate
    "int64 overflow": "b'{\"op\":\"result\",\"ok\":true,\"output\":"
    "{\"__ndarray__\":\"int64\",\"shape\":[1],\"data\":[1' + b'0' * 30 + b']}}'",
    "deep nesting": "b'{\"op\":\"result\",\"ok\":true,\"output\":' + b'[' * 100000 + b']' * 100000 + b'}'",
    "1e999": "b'{\"op\":\"result\",\"ok\":true,\"output\":1e999}'",
    "64 MiB": "b'x' * (64 << 20)",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_a_program_forging_a_hostile_message_fails_itself_and_scoring_goes_on(sum_task: SumTask, name: str) -> None:
    # The program finds the protocol pipe and writes the line ahead of its result.
    program = (
        "import os\n"
        f"LINE = {HOSTILE_LINES[name]} + b'\\n'\n"
        "def algorithm(a):\n"
        "    for fd in range(3, 20):\n"
        "        try:\n"
        "            if os.fstat(fd).st_mode & 0o170000 == 0o010000:  # a pipe\n"
        "                os.write(fd, LINE)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return int(a.sum())\n"
    )
    result = evaluate(sum_task, program, "val")
    # evaluate counts a broken channel as a crash today (a `protocol` kind would do too); a line past the task's
    # output bound where the result is due is refused unread as `bad_output`
    assert result.score == 0.0 and result.n_instances == 4
    assert sum(result.failures.values()) == 4 and set(result.failures) <= {"crash", "protocol", "bad_output"}


def test_an_honest_output_too_long_for_one_message_is_bad_output(sum_task: SumTask) -> None:
    program = f"def algorithm(a):\n    return 'x' * {_wire.MAX_MESSAGE}\n"
    result = evaluate(sum_task, program, "val")
    assert result.failures == {"bad_output": 4} and "limit" in result.detail


def test_an_improver_returning_a_solution_too_long_for_one_message_gets_no_solution() -> None:
    services = make_services(["unused"])
    task = SumTask()
    improver = f"def improve_algorithm(solution, utility, language_model):\n    return 'x' * {_wire.MAX_MESSAGE}\n"
    utility = TaskUtility(services, task, "val", 1)
    result = run_improver(services, improver, task.seed_solution, utility, services.language_model("t", "task"))
    assert result.solution is None and result.failure == "no_solution" and "limit" in result.detail


@pytest.mark.parametrize("items", [
    [0] * 20,
    [*range(-10, 10), 10**999, -(10**999)],
    [0.5] * 16 + [-0.0, 1e308],
    [True, False, None, "x", 1, 2.5] * 3,
    [1.0] * 16 + [float("inf"), float("nan")],  # non-finite floats go tagged
    [np.float64(1.5)] * 16 + [np.int64(2)],  # numpy scalars go as the plain type they extend
    [[1, 2]] * 16,
    [1] * 16 + [10**1000],  # too many digits
    ["ok"] * 16 + ["\ud800"],  # a lone surrogate
])
def test_a_long_list_goes_on_the_wire_as_each_of_its_items_does(items: list[object]) -> None:
    # Lists of 16 items or more are checked in bulk first; the control is each item put on the wire alone.
    try:
        each = [_wire.to_wire(v, 1) for v in items]
    except _wire.WireError:
        with pytest.raises(_wire.WireError):
            _wire.to_wire(items)
        with pytest.raises(_wire.WireError):
            _wire.to_wire(tuple(items))
        return
    for form in (items, tuple(items)):
        got = _wire.to_wire(form)
        assert type(got) is list and _wire.encode({"v": got}) == _wire.encode({"v": each})
        assert [type(v) for v in got] == [type(v) for v in each]
