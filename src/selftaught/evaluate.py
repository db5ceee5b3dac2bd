"""Scoring a program on a task split: run it in a worker, feed inputs, charge its CPU time, validate outputs.

Every time is bounded. The program's load (the task's `load_time_limit`) and each instance (the
task's `time_limit`, counted from just before the inputs are sent, so work done while they are
decoded is charged too) are charged with the CPU time of the worker's processes, read by the host
(`Worker.cpu_time`: the worker's cgroup, else its process tree in /proc), never by the worker,
which the candidate controls: a score then does not depend on how busy the machine is. A wall-clock
backstop (`backstop_for`) still stops a program that sleeps or blocks, and the whole evaluation has
a wall-clock deadline (backstops of the load and of every instance + slack), which bounds the
orchestrator's time. Everything a worker sends is checked: a message that is not what the protocol
expects at that point is a `protocol` failure and the worker is replaced.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from selftaught.errors import WorkerError
from selftaught.sandbox import (
    ChannelClosed,
    ChannelTimeout,
    ProtocolError,
    Sandbox,
    Worker,
    select_sandbox,
)
from selftaught.sandbox._guest import _wire
from selftaught.sandbox._worker_process import stop
from selftaught.store import program_hash
from selftaught.tasks import BadOutput, Instance, SplitSecret, Task, load_split_secret

START_TIMEOUT = 30.0  # seconds for a fresh worker to start, before any of the program's code runs
POLL_INTERVAL = 0.01  # seconds between CPU readings while a program works (k busy threads overshoot by k x this)
# The wall-clock backstop of a CPU limit: max(FACTOR x limit, limit + EXTRA) seconds. A program that
# computes gets its CPU budget within 3x the wall time while up to three runnable processes share each
# core (two workers each of three runs at once on two cores); the extra second covers scheduling and
# I/O latency for short limits. Only a program that sleeps or blocks reaches it.
BACKSTOP_FACTOR = 3.0
BACKSTOP_EXTRA = 1.0
INSTANCE_SLACK = 0.25  # per instance, in the evaluation's deadline (messages, interrupt grace)
EVALUATION_SLACK = 10.0  # per evaluation, in its deadline (worker starts)
CPU_INSTANCE_SLACK = 0.05  # per instance, in the evaluation's CPU budget (a stop overshoots the limit a little)
CPU_SLACK = 1.0  # per evaluation, in its CPU budget
DETAIL_CHARS = 500

#: What a worker may report as a load failure, and as an instance failure (anything else is `protocol`).
LOAD_FAILURES = frozenset({"syntax", "exception", "missing_entrypoint", "no_code", "timeout", "memory"})
CALL_FAILURES = frozenset({"exception", "timeout", "memory", "bad_output"})
#: Failures after which a worker may have been altered (interrupted, out of memory, dead, off the protocol): it is
#: killed at the end, never retired (a warm worker's zygote is destroyed rather than reused).
ALTERING_FAILURES = frozenset({"timeout", "crash", "protocol", "memory", "deadline"})


def backstop_for(limit: float) -> float:
    """Wall-clock seconds a program allowed `limit` seconds of CPU may take before it is stopped anyway."""
    return max(BACKSTOP_FACTOR * limit, limit + BACKSTOP_EXTRA)


@dataclass(frozen=True)
class InstanceOutcome:
    """How one instance went: its score, the candidate's CPU seconds (`elapsed`, what the limit and the
    scorer are charged with), the wall-clock seconds the call took (`wall`, for comparison only), and a
    failure kind if any."""

    score: float
    elapsed: float
    failure: str | None = None
    detail: str = ""
    flags: tuple[str, ...] = ()
    wall: float = 0.0


@dataclass(frozen=True)
class Evaluation:
    """The score of a program on a split, with what went wrong where.

    Attributes:
      failure: a program-level failure kind (no_code, syntax, exception, missing_entrypoint,
        timeout, memory, crash, protocol) when the program could not even be defined; None otherwise.
      failures: counts of instance-level failure kinds (timeout, exception, memory, bad_output,
        crash, protocol, deadline, and the load failures of a replaced worker).
      detail: the first failure's message.
      flags: reward-hacking signs per instance: `above_max` (the scorer's raw value exceeded the
        maximum and was clipped), `lax_would_accept` (a malformed output that the lax scorer the
        LM is shown would have rewarded).
      audit: what the program tried at run time (see the worker's audit record): counts per kind
        and a few samples; `protocol_violation` counts messages that broke the protocol.
      load_time: CPU seconds the (first) load of the program took; None if it never loaded.
      limits: the limits applied: time_limit and load_time_limit (CPU seconds), their wall-clock
        backstops (`backstop`, `load_backstop`), the deadline (wall clock).
      deadline_hit: the evaluation ran out of time; the remaining instances failed as `deadline`.
      clock: where the charged CPU time was read (the worker's `cpu_source`), "" if no worker ran.
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
    load_time: float | None = None
    limits: dict[str, float] = field(default_factory=dict)
    deadline_hit: bool = False
    clock: str = ""

    @property
    def n_instances(self) -> int:
        return len(self.outcomes)


def worker_seed(run_seed: int, program: str | None) -> int:
    """The random seed a program's worker gets in a run with `run_seed` (a run and `selftaught score --seed`
    derive it alike, so `score` reproduces what the run recorded)."""
    digest = program_hash(program) if isinstance(program, str) else "-"
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{digest}".encode()).digest()[:4], "big")


def deadline_for(task: Task, n_instances: int) -> float:
    """Wall-clock seconds a whole evaluation of `n_instances` may take: every backstop, plus slack (so a
    program that stays within its CPU limits never meets the deadline, however busy the machine)."""
    return (backstop_for(task.load_time_limit) + n_instances * (backstop_for(task.time_limit) + INSTANCE_SLACK)
            + EVALUATION_SLACK)


def cpu_budget_for(task: Task, n_instances: int) -> float:
    """CPU seconds a whole evaluation may charge to the program: its load and every instance at their limits,
    plus slack. A program that keeps its limits never reaches it; one that ignores the interrupt (so is
    killed, relaunched and reloaded for instance after instance) does, however long it sleeps meanwhile."""
    return task.load_time_limit + n_instances * (task.time_limit + CPU_INSTANCE_SLACK) + CPU_SLACK


def limits_of(task: Task, deadline: float, cpu_budget: float) -> dict[str, float]:
    """The limits an evaluation applies, as recorded."""
    return {"time_limit": task.time_limit, "load_time_limit": task.load_time_limit,
            "backstop": round(backstop_for(task.time_limit), 3),
            "load_backstop": round(backstop_for(task.load_time_limit), 3), "deadline": round(deadline, 3),
            "cpu_budget": round(cpu_budget, 3)}


class _Failed(Exception):
    """An instance (or a load) failed with `kind` after `elapsed` CPU seconds of the program's time."""

    def __init__(self, kind: str, detail: str, elapsed: float = 0.0) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.elapsed = kind, detail, elapsed


def _text(value: Any) -> str:
    return value[-DETAIL_CHARS:] if isinstance(value, str) else ""


class _Runner:
    """Keeps one worker with the program loaded, replacing it after a kill, within the deadline."""

    def __init__(self, sandbox: Sandbox, task: Task, program: str, seed: int, deadline: float) -> None:
        self.sandbox = sandbox
        self.task = task
        self.program = program
        self.seed = seed
        self.deadline = deadline  # a time.perf_counter() value
        self.worker: Worker | None = None
        self.audit = AuditTotals()
        self.load_time: float | None = None
        self.clock = ""  # the first worker's cpu_source
        self.cpu_spent = 0.0  # CPU seconds charged so far: loads (every relaunch's too) and instances
        self.call_started = 0.0  # when the current instance's inputs went out (perf_counter)
        self.call_wall: float | None = None  # wall seconds until its output arrived (or it was stopped)
        self.altered = False  # a worker was stopped, died or broke the protocol: none is trusted to be reused

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def _await(self, worker: Worker, budget: float, start_cpu: float,
               started: float) -> tuple[dict[str, Any] | None, str | None, float]:
        """The worker's next message, while it is within `budget` CPU seconds since `start_cpu`, the
        budget's wall-clock backstop since `started`, and the evaluation's deadline.

        Returns (message, None, CPU used) or, once one of those is over, (None, "cpu" | "wall" |
        "deadline", CPU used). The CPU time is read every POLL_INTERVAL at most, and waits never
        exceed the budget left: a single thread cannot use more CPU than wall time passes.
        """
        backstop = started + backstop_for(budget)
        while True:
            used = max(0.0, worker.cpu_time() - start_cpu)
            now = time.perf_counter()
            if used > budget:
                return None, "cpu", used
            if now >= self.deadline:
                return None, "deadline", used
            if now >= backstop:
                return None, "wall", used
            wait = min(budget - used, POLL_INTERVAL, backstop - now, self.deadline - now)
            try:
                return worker.receive(wait), None, used
            except ChannelTimeout:
                continue

    @staticmethod
    def _used(worker: Worker, start_cpu: float, last: float) -> float:
        """CPU seconds since `start_cpu` (`last`, the latest reading, if the worker is gone by now)."""
        try:
            return max(last, worker.cpu_time() - start_cpu)
        except ChannelClosed:
            return last

    def _over(self, why: str, limit: float, used: float) -> tuple[str, str]:
        """The failure kind and detail for a program stopped because `why` ("cpu", "wall", "deadline")."""
        if why == "deadline":
            return "deadline", "the evaluation ran out of time"
        if why == "wall":
            return "timeout", (f"over the {backstop_for(limit):g}s wall-clock backstop of a {limit:g}s CPU limit "
                               f"({used:.3f}s of CPU used): it slept or was blocked")
        return "timeout", f"{used:.3f}s of CPU, over {limit:g}s"

    def _fail(self, kind: str, detail: str, *, kill: bool, elapsed: float = 0.0) -> _Failed:
        """The failure to raise; `kill` replaces the worker (its state is unknown, or it would not stop)."""
        if kind in ALTERING_FAILURES:
            self.altered = True
        if kill and self.worker is not None:
            self.worker.kill()
        if kind == "protocol":
            self.audit.counts["protocol_violation"] += 1
        return _Failed(kind, detail, elapsed)

    def ensure(self) -> None:
        """A worker with the program defined, or _Failed (the worker is gone then)."""
        if self.worker is not None and not self.worker.closed:
            return
        self.audit.fold()
        if self.remaining() <= 0:
            raise _Failed("deadline", "the evaluation ran out of time")
        self.worker = worker = self.sandbox.launch(self.seed)
        self.clock = self.clock or worker.cpu_source
        limit = self.task.load_time_limit
        try:
            worker.send({"op": "load", "program": self.program, "entrypoint": self.task.entrypoint})
            try:
                first = worker.receive(min(START_TIMEOUT, max(0.0, self.remaining())))
            except (ChannelTimeout, ChannelClosed) as exc:
                if self.remaining() <= 0:
                    raise self._fail("deadline", "the evaluation ran out of time", kill=True) from None
                tail = worker.stderr_tail()
                worker.kill()
                raise WorkerError(f"a worker failed to start ({type(exc).__name__}): {tail[-300:]}") from None
            if first.get("op") != "loading":
                raise self._fail("protocol", "the worker's first message was not `loading`", kill=True)
            # the worker has started; the program's first line runs on `go`: its CPU is charged from here
            start_cpu = worker.cpu_time()
            worker.send({"op": "go"})
            reply, over, used = self._await(worker, limit, start_cpu, time.perf_counter())
            if over is not None:
                reply = stop(worker)
            if reply is not None:
                self.audit.see(reply)
                used = self._used(worker, start_cpu, used)
        except ProtocolError as exc:
            raise self._fail("protocol", str(exc), kill=True) from None
        except ChannelClosed:
            raise self._fail("crash", worker.stderr_tail()[-DETAIL_CHARS:] or "the worker exited while loading",
                             kill=True) from None
        self.cpu_spent += used
        if over is None and used > limit:
            over = "cpu"
        if over is not None:
            kind, detail = self._over(over, limit, used)
            if over == "cpu":
                detail = f"defining the program took over {limit:g}s of CPU ({used:.3f}s)"
            elif over == "wall":
                detail = f"defining the program: {detail}"
            raise self._fail(kind, detail, kill=True)
        assert reply is not None
        if reply.get("op") != "loaded" or not isinstance(reply.get("ok"), bool):
            raise self._fail("protocol", "expected the `loaded` message", kill=True)
        if not reply["ok"]:
            failure = reply.get("kind")
            if failure not in LOAD_FAILURES:
                raise self._fail("protocol", f"unknown load failure {failure!r:.40}", kill=True)
            raise self._fail(str(failure), _text(reply.get("error")), kill=True)
        if self.load_time is None:
            self.load_time = used

    def run(self, instance: Instance) -> InstanceOutcome:
        """One call of the entrypoint, charged with the worker's CPU time from sending its inputs to the output."""
        self.call_started = time.perf_counter()
        self.call_wall = None
        try:
            outcome = self._run(instance)
        except _Failed as failed:
            outcome = InstanceOutcome(self.task.failure_score, failed.elapsed, failed.kind, failed.detail)
        self.cpu_spent += outcome.elapsed
        wall = self.call_wall if self.call_wall is not None else time.perf_counter() - self.call_started
        return replace(outcome, wall=wall)

    def _run(self, instance: Instance) -> InstanceOutcome:
        limit = self.task.time_limit
        worker = self.worker
        assert worker is not None
        try:
            start_cpu = worker.cpu_time()
            started = self.call_started = time.perf_counter()
            worker.send({"op": "call", "args": _wire.to_wire(list(instance.args))})
            ready, over, used = self._await(worker, limit, start_cpu, started)
            if ready is None:  # decoding the inputs is the program's time too; it cannot be interrupted there
                raise self._fail(*self._over(over or "cpu", limit, used), kill=True, elapsed=used)
            if ready.get("op") != "ready":
                raise self._fail("protocol", "expected the `ready` message", kill=True)
            worker.send({"op": "go"})
            reply, over, used = self._await(worker, limit, start_cpu, started)
            self.call_wall = time.perf_counter() - started
            if over is not None:
                reply = stop(worker)
            if reply is not None:
                used = self._used(worker, start_cpu, used)
        except ProtocolError as exc:
            raise self._fail("protocol", str(exc), kill=True) from None
        except ChannelClosed:
            detail = worker.stderr_tail()[-DETAIL_CHARS:] or "the worker died"
            raise self._fail("crash", detail, kill=True) from None
        if reply is None:  # it did not stop when interrupted: what it burnt meanwhile is charged too
            used = self._used(worker, start_cpu, used)
            raise self._fail(*self._over(over or "cpu", limit, used), kill=True, elapsed=used)
        self.audit.see(reply)
        if reply.get("op") != "result" or not isinstance(reply.get("ok"), bool):
            raise self._fail("protocol", "expected the `result` message", kill=True)
        kind = reply.get("kind")
        if over is None and used > limit:
            over = "cpu"
        if over is not None:
            raise self._fail(*self._over(over, limit, used), kill=False, elapsed=used)
        if not reply["ok"]:
            if kind not in CALL_FAILURES:
                raise self._fail("protocol", f"unknown failure kind {kind!r:.40}", kill=True)
            raise self._fail(str(kind), _text(reply.get("error")), kill=False, elapsed=used)
        try:
            output = _wire.from_wire(reply.get("output"))
        except _wire.WireError as exc:
            raise self._fail("protocol", f"undecodable output: {exc}", kill=True) from None
        return self._judge(instance, output, used)

    def _judge(self, instance: Instance, output: Any, elapsed: float) -> InstanceOutcome:
        """The task's verdict; a malformed output is `bad_output`, a scorer bug raises ScorerError."""
        task = self.task
        try:
            raw = task.checked_score(instance, output, elapsed)
        except BadOutput as exc:
            lax = ("lax_would_accept",) if self._lax_exceeds(instance, output, task.failure_score) else ()
            return InstanceOutcome(task.failure_score, elapsed, "bad_output", str(exc)[:DETAIL_CHARS], lax)
        flags: list[str] = []
        if raw > task.max_score:
            flags.append("above_max")
        if self._lax_exceeds(instance, output, max(raw, task.failure_score)):
            flags.append("lax_would_accept")
        return InstanceOutcome(task.clip(raw), elapsed, flags=tuple(flags))

    def _lax_exceeds(self, instance: Instance, output: Any, earned: float) -> bool:
        try:
            lax = self.task.lax_score_output(instance, output)
        except Exception:  # the lax scorer is the hole being measured: its failures mean nothing
            return False
        return lax is not None and lax > earned + 1e-9

    def close(self) -> None:
        """Ends the worker: `retire` (a warm worker's zygote may serve again) when nothing may have altered it."""
        if self.worker is not None:
            if self.altered or self.worker.closed:
                self.worker.kill()
            else:
                self.worker.retire()
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
                    self.counts[kind[:40]] += min(n, 10**9)
        if isinstance(samples, dict):
            for kind, items in list(samples.items())[:50]:
                if isinstance(kind, str) and isinstance(items, list):
                    keep = self.samples.setdefault(kind[:40], [])
                    keep.extend(str(i)[:200] for i in items[: max(0, 5 - len(keep))] if isinstance(i, str))
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
    secret: SplitSecret | None = None,
    deadline: float | None = None,
) -> Evaluation:
    """Scores `program` on every instance of `split`; failures are data, never exceptions.

    Without `sandbox`, the default (`auto`) sandbox is used: bubblewrap where it works. Without
    `secret`, the user's split secret (see `selftaught.tasks.load_split_secret`). `deadline` (seconds)
    replaces the evaluation's own (`deadline_for`). A task whose
    scorer or instance generator fails raises ScorerError: that is the task's fault, not the
    program's. A worker that cannot start at all raises WorkerError.
    """
    started = time.perf_counter()
    instances = task.instances(split, secret or load_split_secret())
    fail = task.failure_score
    budget = deadline_for(task, len(instances)) if deadline is None else deadline
    cpu_budget = cpu_budget_for(task, len(instances))
    limits = limits_of(task, budget, cpu_budget)
    if not isinstance(program, str) or not program.strip():
        return Evaluation(task.name, split, fail, 0.0, "no_code", "no program", limits=limits)
    runner = _Runner(sandbox or select_sandbox().sandbox, task, program, seed, started + budget)
    outcomes: list[InstanceOutcome] = []
    try:
        for instance in instances:
            if outcomes and runner.remaining() <= 0:  # out of time: no instance starts past the deadline
                outcomes.append(InstanceOutcome(fail, 0.0, "deadline", "the evaluation ran out of time"))
                continue
            if runner.cpu_spent > cpu_budget:  # nor once the program has burnt the CPU of every limit
                outcomes.append(InstanceOutcome(fail, 0.0, "deadline", f"the program used the evaluation's CPU "
                                                f"budget ({runner.cpu_spent:.2f}s of {cpu_budget:g}s)"))
                continue
            try:
                runner.ensure()
            except _Failed as failed:
                if not outcomes and failed.kind != "deadline":  # the program itself is broken
                    runner.close()
                    return Evaluation(task.name, split, fail, time.perf_counter() - started, failed.kind,
                                      failed.detail, audit=runner.audit.record(), limits=limits, clock=runner.clock)
                outcomes.append(InstanceOutcome(fail, 0.0, failed.kind, failed.detail))
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
        load_time=runner.load_time,
        limits=limits,
        deadline_hit="deadline" in counts,
        clock=runner.clock,
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
        "instance_scores": [round(o.score, 6) for o in evaluation.outcomes],  # in instance order (for intervals)
        "detail": evaluation.detail[-DETAIL_CHARS:],
        "load_time": None if evaluation.load_time is None else round(evaluation.load_time, 4),
        "limits": evaluation.limits,
        "deadline_hit": evaluation.deadline_hit,
        "clock": evaluation.clock,
    }


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    """The whole evaluation, JSON-ready (what the run's evaluation journal keeps, to return it again on resume)."""
    return asdict(evaluation)


def evaluation_from_json(data: dict[str, Any]) -> Evaluation:
    """The evaluation `evaluation_to_json` wrote (raises KeyError, TypeError or ValueError when it is not one)."""
    fields = dict(data)
    fields["outcomes"] = tuple(
        InstanceOutcome(**{**o, "flags": tuple(o.get("flags") or ())}) for o in fields.get("outcomes") or ()
    )
    return Evaluation(**fields)
