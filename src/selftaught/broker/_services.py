"""The services a run offers untrusted programs: the sandbox, cached and recorded evaluations, budgeted LMs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any

from selftaught.broker._held import current, record
from selftaught.config import Config
from selftaught.evaluate import (
    Evaluation,
    evaluate,
    evaluation_from_json,
    evaluation_record,
    evaluation_to_json,
    worker_seed,
)
from selftaught.execute import Executor, make_executor
from selftaught.lm import Backend
from selftaught.lm.caps import RunCaps
from selftaught.lm.pricing import price_table
from selftaught.lm.session import LanguageModel
from selftaught.lm.usage import UsageMeter
from selftaught.safety.scan import count_flags, scan_program
from selftaught.sandbox import Limits, Sandbox, SandboxChoice, WarmPool, Worker, select_sandbox, warmed
from selftaught.speculate import Speculation
from selftaught.store import RunStore, program_hash
from selftaught.tasks import SplitSecret, Task, load_split_secret

Progress = Callable[[str], None]


def improver_sandbox(config: Config, sandbox: Sandbox, runs: int = 1) -> Sandbox:
    """Where improvers run: workers forked from warm zygotes of `sandbox` (as candidate solutions are scored) when
    warm workers are on and the sandbox is bubblewrap, else `sandbox` itself (a fresh interpreter per run).

    Its own pool, not the executor's: an improver holds its worker while it waits on the LM, and would otherwise
    keep the zygotes evaluations need. A zygote is started when none is idle; up to as many as `runs` runs can
    have improvers at once (`concurrency` each) are kept, so a study keeps those its improvers once used together.
    """
    return warmed(sandbox, max(1, config.concurrency) * max(1, runs)) if config.warm_workers else sandbox


class Services:
    """What the orchestrator offers a run: the sandbox, the LM backend, the store, the run's seed, the split secret.

    Evaluations are deterministic given (task, split, program, seed, secret): the worker's random
    state is seeded from the program's hash, and time limits are charged with CPU time, not wall
    clock (see `selftaught.evaluate`). They run in the executor (`--executor`, at most `--workers` at
    once) and are cached, so asking twice costs one run: one evaluation per (task, split, program) for
    the whole run, and every later call, or one made while it ran, is served its result (so a program
    that reads the clock, or sits within a few ms of a limit, still has one score per run).
    """

    def __init__(
        self,
        config: Config,
        backend: Backend,
        *,
        store: RunStore | None = None,
        sandbox: SandboxChoice | None = None,
        progress: Progress | None = None,
        secret: SplitSecret | None = None,
        executor: Executor | None = None,
        usage_parent: UsageMeter | None = None,
        shared_executor: bool = False,
        improvers: Sandbox | None = None,
    ) -> None:
        self.config = config
        self.secret = secret or load_split_secret(config.split_secret)
        self.backend = backend
        self.store = store
        self.sandbox_choice = sandbox or select_sandbox(config.sandbox, Limits(memory_mb=config.memory_mb))
        self.sandbox: Sandbox = self.sandbox_choice.sandbox
        self._owns_executor = not shared_executor  # a shared one (a study's runs) is closed by whoever shares it
        self.executor = executor or make_executor(config, self.sandbox)
        self._owns_improvers = improvers is None  # a shared one (a study's runs) is closed by whoever shares it
        self.improvers: Sandbox = improvers or improver_sandbox(config, self.sandbox)
        self.progress = progress or (lambda _msg: None)
        self._cache: dict[tuple[str, str, str], Future[Evaluation]] = {}
        self.speculation = Speculation(config.speculate)
        self._scanned: set[str] = set()
        self._asked: set[tuple[str, str, str]] = set()  # evaluations an improver (not speculation) has asked for
        self._lock = threading.Lock()
        self.iteration: int | None = None  # set by the self-improvement loop; stamped on events
        # Evaluations run vs served from the evaluation cache (LM calls and tokens are in `usage`).
        self.counters = {"evaluations": 0, "evaluations_cached": 0}
        self.usage = UsageMeter(price_table(config.prices), parent=usage_parent)  # parent: a study's, for its caps
        self.stopping = threading.Event()  # set when the run is interrupted: its threads unwind, record nothing
        self._workers: set[Worker] = set()

    def stop(self) -> None:
        """Interrupts the run's background work at once: nothing more is recorded, every improver's worker is
        killed (the threads serving them unwind), and new LM calls, evaluations and workers are refused."""
        self.stopping.set()
        if self.store is not None:
            self.store.freeze()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.kill()

    def _check_stopping(self) -> None:
        if self.stopping.is_set():
            raise KeyboardInterrupt("the run is stopping")

    def launch_worker(self, seed: int) -> Worker:
        """A fresh sandboxed worker for an improver run, killed by `stop` if the run is interrupted meanwhile."""
        self._check_stopping()
        worker = self.improvers.launch(seed)
        with self._lock:
            self._workers.add(worker)
        if self.stopping.is_set():  # stopped while it started
            worker.kill()
            self._check_stopping()
        return worker

    def release_worker(self, worker: Worker, *, clean: bool = False) -> None:
        """Ends an improver's worker once its run is over: `clean` (the improver ended by the protocol, nothing
        may have altered its worker) retires it, so a warm worker's zygote sweeps and may serve again; any other
        end kills it (a warm worker's zygote is destroyed)."""
        with self._lock:
            self._workers.discard(worker)
        if clean and not self.stopping.is_set():
            worker.retire()
        else:
            worker.kill()

    def close(self, wait: bool = True) -> None:
        """Ends what the services keep running (speculation, the executor's warm workers, its cluster connection).

        `wait`: let the speculative scorings already running finish (so the usage report is final); without
        it (an interrupted run: see `stop`), they are left to end with the process.
        """
        if not wait:
            self.stop()
        self.speculation.close(wait)
        if self._owns_executor:
            self.executor.close()
        if self._owns_improvers and isinstance(self.improvers, WarmPool):
            self.improvers.close()

    def usage_report(self) -> dict[str, Any]:
        """LM usage (see UsageMeter), with the speculative work (`--speculate`) and what of it went unused."""
        report = self.usage.report()
        if self.speculation.enabled:
            report["speculation"] = self.speculation.report()
        return report

    def event(self, kind: str, **data: Any) -> None:
        """Records an event in the run store (if any), stamped with the iteration it is written in.

        Within a speculative computation (`selftaught.broker._held`), it is written when, and if, an improver asks
        for that computation's result.
        """
        record(partial(self._write_event, kind, data), current())

    def _write_event(self, kind: str, data: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.event(kind, **{"iteration": self.iteration, **data})

    def save_program(self, program: str | None, role: str) -> str | None:
        """Stores a program once and records its static safety flags the first time it is seen (at an ask:
        within a speculative computation, when an improver asks for its result)."""
        if not isinstance(program, str):
            return None
        digest = program_hash(program)
        record(partial(self._see_program, program, digest, role), current())
        return digest

    def _see_program(self, program: str, digest: str, role: str) -> None:
        with self._lock:
            first = digest not in self._scanned
            self._scanned.add(digest)
        if first:
            if self.store is not None:
                self.store.save_program(program)
            self._write_event("program", {"program": digest, "role": role,
                                          "static_flags": count_flags(scan_program(program))})

    def evaluate(self, task: Task, program: str | None, split: str, *, speculative: bool = False,
                 **context: Any) -> Evaluation:
        """Scores a program on a split (secretly: no budget), recording the evaluation.

        One evaluation per (task, split, program) for the whole run: a call while the same evaluation
        is in flight in another thread waits for it. `speculative` (see `--speculate`): scored before
        any improver asked, so not recorded as a utility call; a later ask is served its result.
        Every ask is a `utility_call` event carrying the whole evaluation record; `cached` marks a repeat
        of an earlier ask (what run-wide counts skip), never the first, even when speculation computed it.
        Speculation records nothing, not even the program: a program only speculated on was never seen.
        """
        self._check_stopping()
        digest = None if speculative else self.save_program(program, "solution")
        key = (task.name, split, program_hash(program) if isinstance(program, str) else "-")
        with self._lock:
            future = self._cache.get(key)
            owner = future is None
            if future is None:
                future = self._cache[key] = Future()
            self.speculation.note("evaluations", key, speculative=speculative)
            self.counters["evaluations" if owner else "evaluations_cached"] += 1
        if owner:
            try:
                future.set_result(self._run_evaluation(task, program, split))
            except BaseException as exc:  # a task's bug or a broken sandbox: the next ask tries again
                with self._lock:
                    del self._cache[key]
                future.set_exception(exc)
                raise
        found = future.result()
        if not speculative:  # count at the ask: the first ask records the result in full, however it was computed
            record(partial(self._write_ask, key, digest, context, found), current())
        return found

    def _write_ask(self, key: tuple[str, str, str], digest: str | None, context: dict[str, Any],
                   found: Evaluation) -> None:
        """The `utility_call` event of an ask; whether it repeats an earlier ask is decided as it is written (an
        ask held with a speculative computation that no improver asked for is no earlier ask)."""
        with self._lock:
            repeat = key in self._asked
            self._asked.add(key)
        self._write_event("utility_call", {"program": digest, "cached": repeat, **context, **evaluation_record(found)})

    def _run_evaluation(self, task: Task, program: str | None, split: str) -> Evaluation:
        if program is None:  # no code: a failure at once, no worker
            return evaluate(task, program, split, sandbox=self.sandbox, secret=self.secret)
        journal = self.store.evaluations if self.store is not None else None
        key = (task.name, split, program_hash(program))
        recorded = journal.get(key) if journal is not None else None
        if recorded is not None:  # finished before the run was interrupted: the same result, no worker
            try:
                return evaluation_from_json(recorded)
            except (KeyError, TypeError, ValueError):
                pass
        def progress(done: int, total: int, elapsed: float) -> None:
            self.progress(f"scoring {key[2][:8]} on {task.name} ({split}): {done}/{total} instances, {elapsed:.0f}s")

        found = self.executor.evaluate(task, program, split, seed=worker_seed(self.config.seed, program),
                                       secret=self.secret, progress=progress)
        if journal is not None and not self.stopping.is_set():  # a stopping run's workers are being killed
            journal.put(key, evaluation_to_json(found))
        return found

    def language_model(self, stream: str, level: str) -> LanguageModel:
        """A fresh, budgeted language model for one improver run."""
        return LanguageModel(
            self.backend,
            budget=self.config.lm_budget,
            max_responses_per_call=self.config.max_responses_per_call,
            run_seed=self.config.seed,
            stream=stream,
            level=level,
            on_call=self._record_lm_call,
            before_call=self._check_stopping,
            caps=RunCaps.for_model(self.usage, self.config, self.backend.model),  # reserves each call's worst case
            temperature_override=self.config.temperature,
        )

    def check_caps(self) -> None:
        """Stops the run (cleanly) once a run-wide cap is reached (each LM call also reserves its worst case)."""
        self._check_stopping()
        RunCaps.for_model(self.usage, self.config, self.backend.model).check()

    def _record_lm_call(self, call: dict[str, Any]) -> None:
        cost = self.usage.add(call, self.iteration)
        # Written at once, never held: a call is spending when it is made (the usage meter and the caps count it
        # then, and a resume replays it from the LM journal), asked for or not. No safety count reads it.
        self._write_event("lm_call", {"cost_usd": round(cost, 6), **call})
