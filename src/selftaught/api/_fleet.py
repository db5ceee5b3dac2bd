"""Runs at once (a study's seeds): one backend, one sandbox and one executor shared, stopped together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from selftaught.api._reporting import Reporter
from selftaught.api._setup import Shared, backend_for, sandbox_for
from selftaught.broker import Services, improver_sandbox
from selftaught.config import Config
from selftaught.execute import make_executor
from selftaught.lm.pricing import price_table
from selftaught.lm.usage import UsageMeter
from selftaught.sandbox import Limits, WarmPool

T = TypeVar("T")


class Prefixed(Reporter):
    """A reporter that labels each line (`[seed 3] ...`) and passes it to another."""

    def __init__(self, inner: Reporter, label: str) -> None:
        super().__init__()
        self.inner = inner
        self.label = label
        self.warnings = inner.warnings

    def __call__(self, message: str) -> None:
        self.inner(f"[{self.label}] {message}")

    def notice(self, text: str) -> None:
        self.inner.notice(text)

    def warn(self, text: str | None) -> None:
        if text:
            self.inner.warn(f"[{self.label}] {text}")


class Fleet:
    """What runs at once share, and every Services made for them (so Ctrl-C stops them all at once).

    The backend's provider pool is the one LM concurrency limit (`--concurrency` requests in flight for the whole
    study); the executor's workers the one bound on evaluations (`--workers`); the usage meter the one account
    that `--max-usd` and `--max-calls` cap.
    """

    def __init__(self, config: Config, reporter: Reporter, runs: int = 1) -> None:
        backend = backend_for(config, reporter)
        try:
            sandbox = sandbox_for(config.sandbox, reporter, Limits(memory_mb=config.memory_mb))
            executor = make_executor(config, sandbox.sandbox)
        except BaseException:
            _close(backend)
            raise
        self.shared = Shared(backend=backend, sandbox=sandbox, executor=executor,
                             improvers=improver_sandbox(config, sandbox.sandbox, runs),
                             usage=UsageMeter(price_table(config.prices)))
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.services: list[Services] = _Watched(self)

    def stop(self) -> None:
        """Stops every run made so far and every one made from now on."""
        self.stopping.set()
        with self.lock:
            made = list(self.services)
        for services in made:
            services.stop()

    def close(self) -> None:
        if self.shared.executor is not None:
            self.shared.executor.close()
        if isinstance(self.shared.improvers, WarmPool):
            self.shared.improvers.close()
        _close(self.shared.backend)

    def run_all(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Runs `jobs` at once, each in its own thread; returns their results in order. The first to raise (a
        fault, not a cap: caps end a run normally) stops the others; so does Ctrl-C or SIGTERM in this thread."""
        if not jobs:
            return []
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="selftaught-run") as pool:
            futures: list[Future[T]] = [pool.submit(job) for job in jobs]
            try:
                while True:
                    done, pending = wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION)
                    if any(f.exception() is not None for f in done) or not pending:
                        break
            except BaseException:
                self.stop()
                wait(futures)
                raise
            errors = [f.exception() for f in futures if f.done()]
            if any(e is not None for e in errors):
                self.stop()
                wait(futures)
                errors = [f.exception() for f in futures]
                # the first fault, not a run it stopped (those end with KeyboardInterrupt)
                raise next((e for e in errors if e is not None and not isinstance(e, KeyboardInterrupt)),
                           next(e for e in errors if e is not None))
            return [f.result() for f in futures]


class _Watched(list[Services]):
    """The fleet's Services: one added after the fleet stopped is stopped at once."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__()
        self._fleet = fleet

    def append(self, services: Services) -> None:
        with self._fleet.lock:
            super().append(services)
        if self._fleet.stopping.is_set():
            services.stop()


def _close(backend: object) -> None:
    close = getattr(backend, "close", None)
    if callable(close):
        close()
