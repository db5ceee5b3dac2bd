"""The host's end of a worker's channel: a bounded line reader with deadlines, its errors, and what a worker is."""

from __future__ import annotations

import math
import os
import select
import time
from typing import Any, NoReturn, Protocol

from selftaught.sandbox._guest import _wire

MAX_MESSAGE = _wire.MAX_MESSAGE  # bytes in one message from a worker (see _wire for the choice)
READ_CHUNK = 1 << 16  # bytes asked of the pipe per read (a Linux pipe holds 64 KiB)
STDERR_TAIL = 4000
INTERRUPT_GRACE = 0.5  # seconds a program gets to stop after the interrupt before it is killed


class ChannelTimeout(Exception):
    """No message arrived before the deadline."""


class ChannelClosed(Exception):
    """The worker closed its end (it exited or crashed)."""


class SendTimedOut(ChannelClosed):
    """The worker did not take a message within its time (a program that stopped its worker reading): the channel
    is unusable, and the worker must be killed."""


class ProtocolError(ChannelClosed):
    """The worker sent something that is not a message: a line over MAX_MESSAGE, or one that does not decode.

    A ChannelClosed, so every handler of a dead worker handles it too: the channel is unusable.
    """


class MessageTooLong(ProtocolError):
    """A line longer than the smaller limit the caller gave `receive` (left unread and undecoded)."""


class LineReader:
    """Reads newline-terminated messages from a descriptor, each at most `limit` bytes, with deadlines.

    Holds at most `limit` + one read of unconsumed bytes. Once a line breaks the protocol, the
    reader stays broken: every later call raises ProtocolError again.
    """

    def __init__(self, fd: int, limit: int = MAX_MESSAGE, chunk: int = READ_CHUNK) -> None:
        self.fd = fd
        self.limit = limit
        self.chunk = chunk
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no newline
        self._eof = False
        self._broken: str | None = None

    def read_line(self, timeout: float, limit: int | None = None) -> bytes:
        """The next line without its newline, waiting at most `timeout` seconds for it.

        Raises ChannelTimeout (no whole line in time), ChannelClosed (end of file), ProtocolError
        (the line is longer than the limit, or an earlier one broke the protocol); MessageTooLong when
        `limit`, below the reader's own, is what the line exceeds (read no further than that).
        """
        if self._broken is not None:
            raise ProtocolError(self._broken)
        cap = self.limit if limit is None else min(limit, self.limit)
        deadline = time.monotonic() + timeout
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                return self._take(end, cap)
            self._scanned = len(self._buffer)
            if self._scanned > cap:
                self._too_long(cap)
            if self._eof:
                raise ChannelClosed("worker exited" + (" mid-message" if self._buffer else ""))
            self._fill(deadline)

    def pending(self) -> bool:
        """Whether `read_line` would return or raise at once: a whole line is buffered, the reader is broken or at
        the end, or the descriptor has something to read now."""
        if self._broken is not None or self._eof or self._buffer.find(b"\n", self._scanned) >= 0:
            return True
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return bool(poller.poll(0))

    def receive(self, timeout: float, limit: int | None = None) -> dict[str, Any]:
        """The next message, decoded (a line that is not one raises ProtocolError; see read_line for `limit`)."""
        line = self.read_line(timeout, limit)
        try:
            return _wire.decode(line)
        except _wire.WireError as exc:
            self._break(str(exc))

    def _take(self, end: int, cap: int) -> bytes:
        if end > cap:
            self._too_long(cap)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        self._scanned = 0
        return line

    def _fill(self, deadline: float) -> None:
        """One read, once the descriptor is readable before the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChannelTimeout()
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        if not poller.poll(max(1, math.ceil(remaining * 1000))):
            raise ChannelTimeout()
        try:
            chunk = os.read(self.fd, self.chunk)
        except OSError as exc:
            raise ChannelClosed(f"worker channel failed: {exc}") from None
        if not chunk:
            self._eof = True
        self._buffer += chunk

    def _too_long(self, cap: int) -> NoReturn:
        self._break(f"a message longer than {cap} bytes", MessageTooLong if cap < self.limit else ProtocolError)

    def _break(self, reason: str, kind: type[ProtocolError] = ProtocolError) -> NoReturn:
        reason = f"worker broke the protocol: {reason}"
        self._broken = reason
        self._buffer.clear()
        self._scanned = 0
        raise kind(reason)


class ExitStatus(Protocol):
    """What callers read of a worker's process once it is gone."""

    @property
    def returncode(self) -> int | None: ...


class Worker(Protocol):
    """What callers use of a worker, however it was started (`WorkerProcess`, or a zygote's `ForkedWorker`)."""

    closed: bool
    cpu_source: str

    @property
    def proc(self) -> ExitStatus: ...

    def send(self, message: dict[str, Any], attachment: bytes = ..., timeout: float | None = ...) -> None: ...

    def receive(self, timeout: float, limit: int | None = None) -> dict[str, Any]: ...

    def receive_or_stop(self, timeout: float, grace: float = ...) -> tuple[dict[str, Any] | None, bool]: ...

    def cpu_time(self) -> float: ...

    def worker_pid(self) -> int: ...

    def interrupt(self) -> None: ...

    def stderr_tail(self, limit: int = ...) -> str: ...

    def stderr_size(self) -> int: ...

    def oom_kills(self) -> int | None: ...

    def kill(self) -> None: ...

    def retire(self) -> None: ...


class Interruptible(Protocol):
    """What `stop` needs of a worker."""

    def interrupt(self) -> None: ...

    def receive(self, timeout: float) -> dict[str, Any]: ...


def stop(worker: Interruptible, grace: float = INTERRUPT_GRACE) -> dict[str, Any] | None:
    """Interrupts the program and waits `grace` seconds (wall clock) for its answer; None if none came
    (it did not stop, died, or broke the protocol meanwhile): the caller kills the worker."""
    worker.interrupt()
    try:
        return worker.receive(grace)
    except (ChannelTimeout, ChannelClosed):
        return None


# The worker script's path ends so both where bubblewrap binds it (/guest) and in the package (_guest).
