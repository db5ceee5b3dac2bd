"""How untrusted programs run: isolated worker processes, the wire format, resource limits."""

from selftaught.sandbox._process import ChannelClosed, ChannelTimeout, Limits, ProcessSandbox, WorkerProcess

__all__ = ["ChannelClosed", "ChannelTimeout", "Limits", "ProcessSandbox", "WorkerProcess"]
