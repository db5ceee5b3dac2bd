"""A task's arrays go to a worker as bytes after the message's line: the program sees exactly the arrays it saw when
they went as JSON lists, and the orchestrator never accepts that form from a worker."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from selftaught.evaluate import evaluate
from selftaught.sandbox import BwrapSandbox, LineReader, ProtocolError, WarmPool
from selftaught.sandbox._guest import _wire
from selftaught.tasks import Instance, Task
from support import TEST_SECRET


def arrays() -> list[Any]:
    """Arrays of every kind the wire carries, in the layouts a task may hand over."""
    grid = np.arange(24, dtype=np.int64).reshape(4, 6) - 7
    return [
        grid,
        grid[:, ::2],  # not contiguous
        grid.T,  # Fortran order
        np.array([True, False, True]),
        np.array([0.5, -0.0, np.nan, np.inf, -np.inf, 1e-300]),
        np.arange(5, dtype=np.uint8),
        np.array([2**63 - 1, 0], dtype=np.uint64),
        np.arange(6, dtype=">i4").reshape(2, 3),  # big-endian
        np.arange(3, dtype=np.float32) / 3,
        np.zeros((0, 3)),
        np.array(7),  # no dimensions
        [np.ones(2), {"k": np.array([1, 2])}],  # inside a list and a dict
    ]


def as_json(value: Any) -> Any:
    """What a worker got before: the value as JSON lists, through one line."""
    return _wire.from_wire(_wire.decode(_wire.encode({"v": _wire.to_wire(value)}).rstrip(b"\n"))["v"])


def as_attached(value: Any) -> Any:
    """What a worker gets now: the value's arrays in an attachment, read back as the worker reads it."""
    attachment = bytearray()
    data = _wire.encode({"v": _wire.to_wire(value, attachment=attachment)}, bytes(attachment))
    line, _, rest = data.partition(b"\n")
    message = _wire.decode(line, attached=True)
    assert message.get(_wire.ATTACHED, 0) == len(rest) == len(attachment)  # none when it is empty
    return _wire.from_wire(message["v"], attachment=rest)


def same(a: Any, b: Any) -> bool:
    """Equal values, types, dtypes and shapes (NaN equal to NaN, -0.0 told from 0.0)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
                and a.tobytes() == b.tobytes())
    if isinstance(a, np.generic) or isinstance(b, np.generic):
        return type(a) is type(b) and a.tobytes() == b.tobytes()
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", arrays())
def test_an_attached_array_arrives_as_its_json_form_does(value: Any) -> None:
    control = as_json(value)
    got = as_attached(value)
    assert same(got, control)
    for array in (got if isinstance(got, list) else [got]):
        if isinstance(array, np.ndarray):
            assert array.flags.writeable and array.flags.c_contiguous


def test_the_same_value_differs_from_a_wrong_one() -> None:
    """The comparison above can fail: a changed element, or a dtype, is told apart."""
    grid = np.arange(6).reshape(2, 3)
    assert not same(as_attached(grid), as_json(grid + (np.arange(6).reshape(2, 3) == 5)))
    assert not same(as_attached(grid.astype(np.float64)), as_json(grid))


def attached_line(value: Any) -> tuple[bytes, bytes]:
    attachment = bytearray()
    data = _wire.encode({"op": "result", "ok": True, "output": _wire.to_wire(value, attachment=attachment)},
                        bytes(attachment))
    line, _, rest = data.partition(b"\n")
    return line, rest


def test_the_orchestrator_refuses_attached_arrays_from_a_worker() -> None:
    line, rest = attached_line(np.arange(4))
    assert _wire.decode(line, attached=True)["output"]["bytes"] == [0, 32]  # the control: the worker's decoding
    with pytest.raises(_wire.WireError):
        _wire.decode(line)
    with pytest.raises(_wire.WireError):
        _wire.from_wire({"__ndarray__": "int64", "shape": [4], "bytes": [0, 32]})
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, line + b"\n" + rest)
        with pytest.raises(ProtocolError):
            LineReader(read_end).receive(timeout=5)
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize(
    "tag, attachment",
    [
        ({"shape": [3], "bytes": [0, 3]}, b"\x00\x01\x02"),  # a bool that is neither 0 nor 1
        ({"shape": [2], "bytes": [0, 2]}, b"\x00"),  # past the attachment's end
        ({"shape": [2], "bytes": [1, 2]}, b"\x00\x01"),
        ({"shape": [3], "bytes": [0, 2]}, b"\x00\x01"),  # shape and length disagree
        ({"shape": [2], "bytes": [-1, 2]}, b"\x00\x01"),
        ({"shape": [2], "bytes": [0, 2, 0]}, b"\x00\x01"),
        ({"shape": [2], "bytes": [0, True]}, b"\x00\x01"),
        ({"shape": [2], "bytes": [0, 2], "data": [0, 1]}, b"\x00\x01"),
    ],
)
def test_malformed_attached_arrays_do_not_decode(tag: dict[str, Any], attachment: bytes) -> None:
    good = {"__ndarray__": "bool", "shape": [2], "bytes": [0, 2]}
    assert _wire.from_wire(good, attachment=b"\x00\x01").tolist() == [False, True]  # the control
    with pytest.raises(_wire.WireError):
        _wire.from_wire({"__ndarray__": "bool", **tag}, attachment=attachment)


def test_attached_arrays_hold_only_numbers() -> None:
    assert _wire.from_wire({"__ndarray__": "int64", "shape": [1], "bytes": [0, 8]}, attachment=bytes(8)).tolist() == [0]
    for dtype in ("object", "<U1", "int32", 3):
        with pytest.raises(_wire.WireError):
            _wire.from_wire({"__ndarray__": dtype, "shape": [1], "bytes": [0, 8]}, attachment=bytes(8))
    with pytest.raises(_wire.WireError):
        _wire.to_wire(np.array(["a"]), attachment=bytearray())


class ArraysTask(Task):
    """Hands the candidate the arrays above (two instances, so a call follows an attachment on the same pipe)."""

    name = "arrays"
    description = "arrays"
    seed_solution = "def algorithm(*args):\n    return list(args)\n"
    split_sizes: Mapping[str, int] = {"val": 2, "test": 2}
    time_limit = 5.0

    def __init__(self) -> None:
        self.outputs: list[Any] = []

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        return Instance(tuple(arrays()), None)

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        self.outputs.append(output)
        return 1.0


# What the program reports of each argument: the argument (sent back as JSON lists) and whether it may write it.
DESCRIBE = '''
import numpy as np

def algorithm(*args):
    def look(a):
        if isinstance(a, list):
            return [look(x) for x in a]
        if isinstance(a, dict):
            return {k: look(v) for k, v in a.items()}
        return [a, str(a.dtype), bool(a.flags.writeable)]
    return [look(a) for a in args]
'''


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_a_program_sees_its_arrays_as_before(warm: bool) -> None:
    task = ArraysTask()
    sandbox = BwrapSandbox()
    runner = WarmPool(sandbox, size=1) if warm else sandbox
    try:
        result = evaluate(task, DESCRIBE, "val", sandbox=runner, secret=TEST_SECRET)
    finally:
        if isinstance(runner, WarmPool):
            runner.close()
    assert result.failure is None and not result.failures, result.detail
    # the control: what the program returns given the arguments as JSON lists made them, sent back alike
    namespace: dict[str, Any] = {}
    exec(DESCRIBE, namespace)
    expected = as_json(namespace["algorithm"](*[as_json(a) for a in arrays()]))
    assert len(task.outputs) == 2
    for output in task.outputs:
        assert same(output, expected)
