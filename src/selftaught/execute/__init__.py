"""Where candidate evaluations run: sandboxed workers on this machine, or Ray tasks on a cluster."""

from selftaught.execute._local import Executor, LocalExecutor, make_executor

__all__ = ["Executor", "LocalExecutor", "make_executor"]
