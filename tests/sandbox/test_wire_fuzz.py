"""Fuzzing the wire with Hypothesis: whatever a worker sends, the host gets a WireError or plain data."""

from __future__ import annotations

import contextlib
import json
import math
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from selftaught.sandbox import ChannelClosed, ChannelTimeout, LineReader, ProtocolError
from selftaught.sandbox._guest import _wire

FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
ARRAY_DTYPES = {np.dtype(bool), np.dtype(np.int64), np.dtype(np.float64)}


def assert_allowed(value: Any, depth: int = 0) -> None:
    """`value` is wire output: JSON values (text that UTF-8 encodes, finite floats, bounded ints) and arrays."""
    assert depth <= _wire.MAX_MESSAGE_DEPTH
    if isinstance(value, np.ndarray):
        assert value.dtype in ARRAY_DTYPES and value.ndim <= _wire.MAX_NDIM and value.size <= _wire.MAX_ARRAY_SIZE
    elif isinstance(value, np.generic):
        assert type(value) in (np.bool_, np.int64, np.float64)
    elif type(value) is dict:
        for key, item in value.items():
            assert type(key) is str
            key.encode("utf-8")
            assert_allowed(item, depth + 1)
    elif type(value) is list:
        for item in value:
            assert_allowed(item, depth + 1)
    elif type(value) is str:
        value.encode("utf-8")
    elif type(value) is int:
        assert abs(value) < 10**_wire.MAX_INT_DIGITS
    elif type(value) is float:
        assert math.isfinite(value)
    else:
        assert value is None or type(value) is bool, f"not wire output: {type(value).__name__}"


def check_decodes_or_refuses(line: bytes) -> None:
    """Decodes a line and its `output` field: a WireError, or values the validator accepts."""
    try:
        message = _wire.decode(line)
    except _wire.WireError:
        return
    assert type(message) is dict
    assert_allowed(message)
    try:
        value = _wire.from_wire(message.get("output"))
    except _wire.WireError:
        return
    assert_allowed(value)


# ---- any bytes, any JSON --------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_decode_to_data_or_a_wire_error(line: bytes) -> None:
    check_decodes_or_refuses(line)
    check_decodes_or_refuses(b'{"op":"result","output":' + line + b"}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None)),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(json_values)
def test_random_json_decodes_to_data_or_a_wire_error(value: Any) -> None:
    text = json.dumps({"op": "result", "output": value})  # NaN and Infinity included, surrogates escaped
    check_decodes_or_refuses(text.encode())
    try:
        back = _wire.from_wire(value)
    except _wire.WireError:
        return
    assert_allowed(back)


# ---- adversarial JSON: written as text, so it holds what json.dumps would never write ------------

huge_ints = st.builds(lambda digits, sign: sign + "9" * digits, st.integers(18, 4400), st.sampled_from(["", "-"]))
atoms = st.one_of(
    st.sampled_from(
        ["1e999", "-1e999", "1E400", "NaN", "Infinity", "-Infinity", "true", "false", "null", "0", "1", "-0", "1.5",
         '"nan"', '"inf"', '"-inf"', '"x"', '"\\ud800"', '"\\udfff"', '"a\\ud800b"', '"\\ud83d\\ude00"',
         "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809"]
    ),
    huge_ints,
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
dtypes = st.sampled_from(['"bool"', '"int64"', '"float64"', '"int32"', '"object"', '""', "1", "null", '["int64"]'])
dims = st.sampled_from(["0", "1", "2", "3", "-1", "true", "1.0", "16777217", "9223372036854775808", "1e999"])


@st.composite
def tagged_arrays(draw: st.DrawFn, data_items: st.SearchStrategy[str]) -> str:
    data = draw(st.lists(data_items, max_size=8))
    shape = draw(
        st.sampled_from([[str(len(data))], [str(len(data)), "1"], ["1", str(len(data))], [], ["1"] * 33])
        | st.lists(dims, max_size=4)
    )
    parts = [f'"__ndarray__":{draw(dtypes)}', f'"shape":[{",".join(shape)}]', f'"data":[{",".join(data)}]']
    parts = draw(st.permutations(parts))
    if draw(st.booleans()):
        parts = parts[: draw(st.integers(0, 2))] + draw(st.sampled_from([[], ['"extra":0'], ['"shape":1']]))
    return "{" + ",".join(parts) + "}"


fragments = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.dictionaries(st.sampled_from(['"a"', '"b"', '"\\ud800"', '"__ndarray__"']), inner, max_size=3).map(
            lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}"
        ),
        tagged_arrays(inner),
        tagged_arrays(atoms),
    ),
    max_leaves=20,
)


def nest(levels: int, inner: str) -> str:
    return "[" * levels + inner + "]" * levels


@FUZZ
@given(fragments)
def test_adversarial_json_decodes_to_data_or_a_wire_error(fragment: str) -> None:
    check_decodes_or_refuses(('{"op":"result","output":' + fragment + "}").encode())


@FUZZ
@given(st.integers(0, _wire.MAX_MESSAGE_DEPTH + 3) | st.integers(900, 3000), atoms)
def test_nesting_around_the_limits_decodes_or_is_a_wire_error(levels: int, atom: str) -> None:
    line = ('{"op":"result","output":' + nest(levels, atom) + "}").encode()
    check_decodes_or_refuses(line)
    if levels >= _wire.MAX_MESSAGE_DEPTH:  # the atom sits inside levels + 1 containers
        with pytest.raises(_wire.WireError):
            _wire.decode(line)


@FUZZ
@given(fragments, st.data())
def test_invalid_utf8_anywhere_is_a_wire_error(fragment: str, data: st.DataObject) -> None:
    line = ('{"op":"result","output":' + fragment + "}").encode()
    at = data.draw(st.integers(0, len(line)))
    bad = data.draw(st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\x80", b"\xf4\x90\x80\x80"]))
    with pytest.raises(_wire.WireError):
        _wire.decode(line[:at] + bad + line[at:])


# ---- honest values round-trip ----------------------------------------------------------------

honest_arrays = st.one_of(
    hnp.arrays(
        st.sampled_from([np.bool_, np.int64, np.int32, np.uint8, np.float64, np.float32]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    ),
    hnp.arrays(np.uint64, hnp.array_shapes(max_dims=2, max_side=4), elements=st.integers(0, 2**63 - 1)),
)
honest_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**_wire.MAX_INT_DIGITS) + 1, 10**_wire.MAX_INT_DIGITS - 1),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and infinities too: they travel tagged
    st.text(),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.floats(width=32).map(np.float32),
)
honest_values = st.recursive(
    honest_scalars | honest_arrays,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)


def same(sent: Any, back: Any) -> bool:
    """Whether `back` is what `sent` should come back as (numpy scalars become Python ones, dtypes widen)."""
    if isinstance(sent, np.ndarray):  # a 0-d array comes back as a numpy scalar
        wide = {"b": np.dtype(bool), "i": np.dtype(np.int64), "u": np.dtype(np.int64), "f": np.dtype(np.float64)}
        return (
            isinstance(back, np.ndarray if sent.shape else np.generic)
            and back.dtype == wide[sent.dtype.kind]
            and back.shape == sent.shape
            and np.array_equal(back, sent, equal_nan=sent.dtype.kind == "f")
        )
    if isinstance(sent, np.generic):
        return same(sent.item(), back)
    if isinstance(sent, float):
        if math.isfinite(sent):
            return type(back) is float and back == sent
        return isinstance(back, np.float64) and (back == sent or (math.isnan(sent) and math.isnan(back)))
    if isinstance(sent, list):
        return type(back) is list and len(back) == len(sent) and all(map(same, sent, back))
    if isinstance(sent, dict):
        return type(back) is dict and back.keys() == sent.keys() and all(same(v, back[k]) for k, v in sent.items())
    return type(back) is type(sent) and back == sent


@FUZZ
@given(honest_values)
def test_honest_values_round_trip_through_a_line(value: Any) -> None:
    line = _wire.encode({"op": "result", "ok": True, "output": _wire.to_wire(value)})
    assert len(line) <= _wire.MAX_MESSAGE
    back = _wire.from_wire(_wire.decode(line.rstrip(b"\n"))["output"])
    assert_allowed(back)
    assert same(value, back)


# ---- the host's reader on a real pipe ----------------------------------------------------------

stream_lines = st.one_of(
    honest_values.map(lambda v: _wire.encode({"op": "result", "output": _wire.to_wire(v)})),
    fragments.map(lambda f: ('{"op":"result","output":' + f + "}\n").encode()),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n"),
)


def expected_outcomes(stream: bytes, limit: int) -> list[Any]:
    """What the reader must yield for each whole line: a message, then at most one ProtocolError."""
    outcomes: list[Any] = []
    for line in stream.split(b"\n")[:-1]:
        try:
            if len(line) > limit:
                raise _wire.WireError("too long")
            outcomes.append(_wire.decode(line))
        except _wire.WireError:
            outcomes.append(ProtocolError)
            break
    return outcomes


@FUZZ
@given(
    st.lists(stream_lines, max_size=6),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
    st.data(),
    st.integers(20, 4000),
    st.integers(1, 512),
)
def test_lines_split_anywhere_across_writes_read_back_whole(
    lines: list[bytes], tail: bytes, data: st.DataObject, limit: int, chunk: int
) -> None:
    stream = b"".join(lines) + tail
    if len(stream) > 60_000:  # everything must fit in the pipe: this test writes and reads in one thread
        stream = stream[:60_000]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    expected = expected_outcomes(stream, limit)
    read_end, write_end = os.pipe()
    reader = LineReader(read_end, limit=limit, chunk=chunk)
    got: list[Any] = []
    try:
        written = b""
        for piece in pieces:
            os.write(write_end, piece)
            written += piece
            while len(got) < min(written.count(b"\n"), len(expected)) and ProtocolError not in got:
                got.append(_outcome(reader, timeout=5))  # a whole line is in the pipe: no waiting
        assert got == expected
        unfinished = stream.rsplit(b"\n", 1)[-1]
        broken = ProtocolError in got or len(unfinished) > limit
        with pytest.raises(ProtocolError if broken else ChannelTimeout):  # no whole line left
            reader.receive(timeout=1.0 if broken else 0.002)
        os.close(write_end)
        with pytest.raises(ProtocolError if broken else ChannelClosed):
            reader.receive(timeout=5)
    finally:
        for fd in (read_end, write_end):
            with contextlib.suppress(OSError):
                os.close(fd)


def _outcome(reader: LineReader, timeout: float) -> Any:
    try:
        message = reader.receive(timeout)
    except ProtocolError:
        return ProtocolError
    assert_allowed(message)
    return message


@settings(max_examples=30, deadline=None, database=None)
@given(st.integers(1, 3000), st.integers(1, 700))
def test_an_oversized_line_costs_at_most_the_limit_plus_one_read(limit: int, chunk: int) -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"z" * (limit + chunk + 1000) + b"\n")
        with pytest.raises(ProtocolError):
            LineReader(read_end, limit=limit, chunk=chunk).receive(timeout=5)
        os.set_blocking(read_end, False)
        left = len(os.read(read_end, 1 << 16))
        consumed = limit + chunk + 1001 - left
        assert limit < consumed <= limit + chunk
    finally:
        os.close(read_end)
        os.close(write_end)
