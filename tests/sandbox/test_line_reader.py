"""The host's reader of worker messages over a real pipe: whole lines only, bounded, with deadlines."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest

from selftaught.sandbox import ChannelClosed, ChannelTimeout, LineReader, ProtocolError
from selftaught.sandbox._channel import MessageTooLong
from selftaught.sandbox._guest import _wire


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):
            os.close(fd)


def _unread(fd: int) -> int:
    """How many bytes are still in the pipe (drains it)."""
    os.set_blocking(fd, False)
    total = 0
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 1 << 16):
            total += len(chunk)
    return total


def test_a_line_written_in_pieces_arrives_whole(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    reader = LineReader(read_end)
    os.write(write_end, b'{"op":')
    with pytest.raises(ChannelTimeout):
        reader.receive(timeout=0.05)
    os.write(write_end, b'"ready"}\n')
    assert reader.receive(timeout=1) == {"op": "ready"}


def test_lines_of_one_write_come_out_one_at_a_time(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    reader = LineReader(read_end)
    os.write(write_end, b'{"n":1}\n{"n":2}\n{"n":')
    os.close(write_end)
    assert reader.receive(timeout=1) == {"n": 1}
    assert reader.receive(timeout=0) == {"n": 2}  # already buffered: no wait needed
    with pytest.raises(ChannelClosed, match="mid-message") as closed:
        reader.receive(timeout=1)
    assert type(closed.value) is ChannelClosed


def test_end_of_file_is_channel_closed_not_a_protocol_error(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(write_end)
    with pytest.raises(ChannelClosed) as closed:
        LineReader(read_end).receive(timeout=1)
    assert type(closed.value) is ChannelClosed and str(closed.value) == "worker exited"


def test_no_line_before_the_deadline_is_a_timeout(pipe: tuple[int, int]) -> None:
    read_end, _ = pipe
    started = time.monotonic()
    with pytest.raises(ChannelTimeout):
        LineReader(read_end).receive(timeout=0.1)
    assert 0.1 <= time.monotonic() - started < 1.0


def test_a_line_of_exactly_the_limit_passes_and_one_byte_more_does_not(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    limit = 100
    exact = b'{"s":"' + b"x" * (limit - 8) + b'"}'
    assert len(exact) == limit
    os.write(write_end, exact + b"\n")
    reader = LineReader(read_end, limit=limit, chunk=7)
    assert reader.receive(timeout=1) == {"s": "x" * (limit - 8)}
    os.write(write_end, b" " + exact + b"\n")
    with pytest.raises(ProtocolError, match="longer than 100 bytes"):
        reader.receive(timeout=1)


def test_an_endless_line_is_refused_after_at_most_the_limit_plus_one_read(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, b"y" * 5000)  # no newline, ever
    with pytest.raises(ProtocolError):
        LineReader(read_end, limit=1000, chunk=100).read_line(timeout=1)
    consumed = 5000 - _unread(read_end)
    assert 1000 < consumed <= 1100


def test_a_line_that_does_not_decode_is_a_protocol_error_and_the_reader_stays_broken(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    reader = LineReader(read_end)
    os.write(write_end, b'{"op":"result","output":1e999}\n{"op":"result","output":1}\n')
    with pytest.raises(ProtocolError, match="finite") as broken:
        reader.receive(timeout=1)
    assert isinstance(broken.value, ChannelClosed)  # existing handlers of a dead worker catch it
    with pytest.raises(ProtocolError, match="finite"):
        reader.receive(timeout=1)  # the valid line behind it is not read: the worker is not trusted again


def test_a_line_over_the_callers_limit_is_refused_after_reading_no_more_than_the_limit_and_one_read(
    pipe: tuple[int, int],
) -> None:
    read_end, write_end = pipe
    os.set_blocking(write_end, False)
    written = 0
    try:
        while written < 1 << 20:
            written += os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass  # the pipe is full: the reader never asked for more than fits in it
    reader = LineReader(read_end, chunk=4096)
    with pytest.raises(MessageTooLong, match="longer than 1000 bytes"):
        reader.receive(timeout=5, limit=1000)
    assert len(reader._buffer) == 0  # what it read is dropped, and it read at most the limit and one chunk
    with pytest.raises(ProtocolError):
        reader.receive(timeout=0)  # the reader stays broken


def test_a_line_over_the_readers_own_limit_is_a_plain_protocol_error(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, b"x" * 2000 + b"\n")
    with pytest.raises(ProtocolError) as raised:
        LineReader(read_end, limit=1000).receive(timeout=5, limit=5000)
    assert not isinstance(raised.value, MessageTooLong)


def test_a_line_within_the_callers_limit_is_read() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, _wire.encode({"op": "ready"}))
        assert LineReader(read_end).receive(timeout=5, limit=len('{"op":"ready"}')) == {"op": "ready"}
    finally:
        os.close(read_end)
        os.close(write_end)
