"""How untrusted programs run: isolated workers (bubblewrap, or a plain process as a fallback), the wire format."""

from selftaught.sandbox._bwrap import BwrapSandbox
from selftaught.sandbox._channel import ChannelClosed, ChannelTimeout, LineReader, ProtocolError, Worker
from selftaught.sandbox._process import ProcessSandbox
from selftaught.sandbox._select import MIN_MEMORY_MB, MODES, LimitsTooSmall, Sandbox, SandboxChoice, select_sandbox
from selftaught.sandbox._warm import ForkedWorker, WarmPool, warmed
from selftaught.sandbox._worker_process import Launch, Limits, WorkerProcess

__all__ = [
    "MIN_MEMORY_MB",
    "MODES",
    "BwrapSandbox",
    "ChannelClosed",
    "ChannelTimeout",
    "ForkedWorker",
    "Launch",
    "Limits",
    "LimitsTooSmall",
    "LineReader",
    "ProcessSandbox",
    "ProtocolError",
    "Sandbox",
    "SandboxChoice",
    "WarmPool",
    "Worker",
    "WorkerProcess",
    "select_sandbox",
    "warmed",
]
