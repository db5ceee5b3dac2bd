"""The executor interface, the local executor (at most `workers` evaluations at once), and choosing one."""

from __future__ import annotations

import threading
from typing import Protocol

from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.evaluate import Evaluation, EvaluationProgress, evaluate
from selftaught.sandbox import Sandbox, warmed
from selftaught.tasks import SplitSecret, Task


class Executor(Protocol):
    """Runs candidate evaluations, the CPU-bound work of a run (thread-safe; callers block on each).

    Budgets, the LM, the run store and the improver runs stay in the orchestrator: an executor only
    scores a program on a split, in a sandbox, and returns the `Evaluation`.
    """

    name: str
    workers: int

    def evaluate(self, task: Task, program: str, split: str, *, seed: int, secret: SplitSecret,
                 progress: EvaluationProgress | None = None) -> Evaluation:
        """`selftaught.evaluate.evaluate` somewhere; `progress` is told how it goes where the executor can say."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """Evaluations in `sandbox` on this machine, at most `workers` at once (the others wait their turn)."""

    name = "local"

    def __init__(self, sandbox: Sandbox, workers: int) -> None:
        self.sandbox = sandbox
        self.workers = workers
        self._slots = threading.BoundedSemaphore(workers)

    def evaluate(self, task: Task, program: str, split: str, *, seed: int, secret: SplitSecret,
                 progress: EvaluationProgress | None = None) -> Evaluation:
        with self._slots:  # the evaluation's deadline starts once it holds a slot
            return evaluate(task, program, split, sandbox=self.sandbox, seed=seed, secret=secret, progress=progress)

    def close(self) -> None:
        close = getattr(self.sandbox, "close", None)
        if callable(close):
            close()


def make_executor(config: Config, sandbox: Sandbox) -> Executor:
    """The executor `config.executor` names; `sandbox` is the local one (Ray selects its own on each node).

    Locally, candidates run in warm workers (forked from zygotes of the bubblewrap sandbox, see
    `selftaught.sandbox.WarmPool`) unless `warm_workers` is off or the sandbox is not bubblewrap.
    """
    if config.executor == "ray":
        try:
            from selftaught.execute._ray import RayExecutor
        except ImportError as exc:
            if (exc.name or "").split(".")[0] != "ray":
                raise
            raise UserError("--executor ray needs Ray: pip install 'selftaught[ray]'") from None
        return RayExecutor(config)
    return LocalExecutor(warmed(sandbox, config.workers) if config.warm_workers else sandbox, config.workers)
