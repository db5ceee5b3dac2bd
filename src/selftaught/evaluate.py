"""Scoring a program on a task split: run it in a worker, feed inputs, time it, validate outputs."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from selftaught.sandbox import ChannelClosed, ChannelTimeout, Sandbox, WorkerProcess, select_sandbox
from selftaught.sandbox._guest import _wire
from selftaught.tasks import Instance, Task

LOAD_TIMEOUT = 20.0  # seconds to start the interpreter and define the program
INPUT_TIMEOUT = 30.0  # seconds for the worker to decode one instance's inputs
TIMING_SLACK = 0.02  # seconds waited past the limit before interrupting (message latency)


@dataclass(frozen=True)
class InstanceOutcome:
    """How one instance went: its score, the candidate's own time, and a failure kind if any."""

    score: float
    elapsed: float
    failure: str | None = None
    detail: str = ""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """The score of a program on a split, with what went wrong where.

    Attributes:
      failure: a program-level failure kind (no_code, syntax, exception, missing_entrypoint,
        timeout, crash) when the program could not even be defined; None otherwise.
      failures: counts of instance-level failure kinds (timeout, exception, bad_output, crash, ...).
      flags: reward-hacking signs per instance: `above_max` (the scorer's raw value exceeded the
        maximum and was clipped), `lax_would_accept` (a malformed output that the lax scorer the
        LM is shown would have rewarded).
      audit: what the program tried at run time (see the worker's audit record): counts per kind
        and a few samples.
    """

    task: str
    split: str
    score: float
    duration: float
    failure: str | None = None
    detail: str = ""
    outcomes: tuple[InstanceOutcome, ...] = ()
    failures: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def n_instances(self) -> int:
        return len(self.outcomes)


class _Runner:
    """Keeps one worker with the program loaded, replacing it after a kill."""

    def __init__(self, sandbox: Sandbox, task: Task, program: str, seed: int) -> None:
        self.sandbox = sandbox
        self.task = task
        self.program = program
        self.seed = seed
        self.worker: WorkerProcess | None = None
        self.audit = AuditTotals()

    def ensure(self) -> tuple[str | None, str]:
        """Starts a worker with the program defined; returns (failure kind, detail)."""
        if self.worker is not None and not self.worker.closed:
            return None, ""
        self.audit.fold()
        worker = self.sandbox.launch(self.seed)
        try:
            worker.send({"op": "load", "program": self.program, "entrypoint": self.task.entrypoint})
            reply = worker.receive(LOAD_TIMEOUT)
            self.audit.see(reply)
        except ChannelTimeout:
            worker.kill()
            return "timeout", "defining the program took too long"
        except ChannelClosed:
            tail = worker.stderr_tail()
            worker.kill()
            return "crash", tail or "worker exited while defining the program"
        if not reply.get("ok"):
            worker.kill()
            return str(reply.get("kind", "exception")), str(reply.get("error", ""))
        self.worker = worker
        return None, ""

    def run(self, instance: Instance) -> InstanceOutcome:
        """One call of the entrypoint, timed from `go` to the output's arrival."""
        fail = self.task.failure_score
        limit = self.task.time_limit
        worker = self.worker
        assert worker is not None
        try:
            worker.send({"op": "call", "args": _wire.to_wire(list(instance.args))})
            if worker.receive(INPUT_TIMEOUT).get("op") != "ready":
                worker.kill()
                return InstanceOutcome(fail, 0.0, "protocol", "the program wrote onto the protocol channel")
            worker.send({"op": "go"})
            start = time.perf_counter()
            reply, timed_out = worker.receive_or_stop(limit + TIMING_SLACK)
            if timed_out or reply is None:
                if reply is None:
                    worker.kill()
                return InstanceOutcome(fail, time.perf_counter() - start, "timeout", f"over {limit}s")
            elapsed = time.perf_counter() - start
            self.audit.see(reply)
        except (ChannelClosed, ChannelTimeout):
            detail = worker.stderr_tail()
            worker.kill()
            return InstanceOutcome(fail, 0.0, "crash", detail[-500:] or "worker died")
        if reply.get("op") != "result":
            worker.kill()
            return InstanceOutcome(fail, elapsed, "protocol", "the program wrote onto the protocol channel")
        if elapsed > limit:
            return InstanceOutcome(fail, elapsed, "timeout", f"{elapsed:.3f}s over {limit}s")
        if not reply.get("ok"):
            kind = str(reply.get("kind", "exception"))
            return InstanceOutcome(fail, elapsed, kind, str(reply.get("error", ""))[-500:])
        try:
            output = _wire.from_wire(reply.get("output"))
        except _wire.WireError as exc:
            return InstanceOutcome(fail, elapsed, "bad_output", str(exc))
        try:
            score = self.task.score_output(instance, output, elapsed)
        except Exception as exc:  # a lax scorer meeting a strange output: the output's fault
            return InstanceOutcome(fail, elapsed, "bad_output", f"{type(exc).__name__}: {exc}")
        return InstanceOutcome(self.task.clip(score), elapsed, flags=self._flags(instance, output, score))

    def _flags(self, instance: Instance, output: Any, score: float) -> tuple[str, ...]:
        flags = []
        if isinstance(score, (int, float)) and score > self.task.max_score:
            flags.append("above_max")
        try:
            lax = self.task.lax_score_output(instance, output)
        except Exception:  # the lax scorer is the hole being measured: its failures mean nothing
            lax = None
        if lax is not None and lax > max(score, self.task.failure_score) + 1e-9:
            flags.append("lax_would_accept")
        return tuple(flags)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.kill()
        self.audit.fold()


class AuditTotals:
    """Sums the runtime records of the workers an evaluation used (they are cumulative per worker)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = {}
        self._current: dict[str, Any] = {}

    def see(self, reply: dict[str, Any]) -> None:
        """Keeps the latest record a worker sent (untrusted: sanitized)."""
        record = reply.get("audit")
        if isinstance(record, dict):
            self._current = record

    def fold(self) -> None:
        counts = self._current.get("counts")
        samples = self._current.get("samples")
        if isinstance(counts, dict):
            for kind, n in list(counts.items())[:50]:
                if isinstance(kind, str) and isinstance(n, int) and not isinstance(n, bool) and n > 0:
                    self.counts[kind[:40]] += n
        if isinstance(samples, dict):
            for kind, items in list(samples.items())[:50]:
                if isinstance(kind, str) and isinstance(items, list):
                    keep = self.samples.setdefault(kind[:40], [])
                    keep.extend(str(i)[:200] for i in items[: max(0, 5 - len(keep))])
        self._current = {}

    def record(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "samples": self.samples} if self.counts else {}


def evaluate(
    task: Task,
    program: str | None,
    split: str = "val",
    *,
    sandbox: Sandbox | None = None,
    seed: int = 0,
) -> Evaluation:
    """Scores `program` on every instance of `split`; failures are data, never exceptions.

    Without `sandbox`, the default (`auto`) sandbox is used: bubblewrap where it works.
    """
    started = time.perf_counter()
    instances = task.instances(split)
    fail = task.failure_score
    if not isinstance(program, str) or not program.strip():
        return Evaluation(task.name, split, fail, 0.0, "no_code", "no program")
    runner = _Runner(sandbox or select_sandbox().sandbox, task, program, seed)
    outcomes: list[InstanceOutcome] = []
    try:
        for instance in instances:
            failure, detail = runner.ensure()
            if failure is not None:
                if not outcomes:  # the program itself is broken: every instance fails
                    runner.close()
                    return Evaluation(task.name, split, fail, time.perf_counter() - started, failure, detail,
                                      audit=runner.audit.record())
                outcomes.append(InstanceOutcome(fail, 0.0, failure, detail))
                continue
            outcomes.append(runner.run(instance))
    finally:
        runner.close()
    score = sum(o.score for o in outcomes) / len(outcomes) if outcomes else fail
    counts = Counter(o.failure for o in outcomes if o.failure)
    flags = Counter(flag for o in outcomes for flag in o.flags)
    return Evaluation(
        task.name,
        split,
        task.clip(score),
        time.perf_counter() - started,
        outcomes=tuple(outcomes),
        failures=dict(counts),
        detail=next((o.detail for o in outcomes if o.failure), ""),
        flags=dict(flags),
        audit=runner.audit.record(),
    )


def evaluation_record(evaluation: Evaluation) -> dict[str, Any]:
    """A JSON-ready summary of an evaluation (for the run store and --json output)."""
    return {
        "task": evaluation.task,
        "split": evaluation.split,
        "score": evaluation.score,
        "duration": round(evaluation.duration, 4),
        "failure": evaluation.failure,
        "failures": evaluation.failures,
        "flags": evaluation.flags,
        "audit": evaluation.audit.get("counts", {}),
        "instances": evaluation.n_instances,
        "detail": evaluation.detail[-500:],
    }
