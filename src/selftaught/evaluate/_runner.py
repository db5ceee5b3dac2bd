"""The runner: one worker with the program loaded (replaced after a kill), one call per instance, each charged."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from selftaught.errors import WorkerError
from selftaught.evaluate._audit import AuditTotals
from selftaught.evaluate._clock import HostCharge, await_message, cpu_used, stop
from selftaught.evaluate._limits import MESSAGE_ENVELOPE, backstop_for, result_limit
from selftaught.evaluate._records import DETAIL_CHARS, InstanceOutcome
from selftaught.evaluate._verdicts import (
    ALTERING_FAILURES,
    CALL_FAILURES,
    LOAD_FAILURES,
    Failed,
    judge,
    over,
    text,
)
from selftaught.sandbox import ChannelClosed, ChannelTimeout, ProtocolError, Sandbox, Worker
from selftaught.sandbox._channel import MessageTooLong, SendTimedOut
from selftaught.sandbox._guest import _wire
from selftaught.tasks import Instance, Task

START_TIMEOUT = 30.0  # seconds for a fresh worker to start, before any of the program's code runs


@dataclass(frozen=True)
class Answered:
    """A call answered within its limit with an output the host decoded: the task's judgement is still to come."""

    instance: Instance
    output: Any
    elapsed: float  # CPU seconds charged
    wall: float = 0.0


class Runner:
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
        self.result_limit = result_limit(task)  # bytes of a result message read, at most
        self._prepared: tuple[Instance, Any, bytes] | None = None  # the next call, encoded ahead
        self.calls = 0  # calls sent: each is numbered, and its result must name it

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def _fail(self, kind: str, detail: str, *, kill: bool, elapsed: float = 0.0) -> Failed:
        """The failure to raise; `kill` replaces the worker (its state is unknown, or it would not stop)."""
        if kind in ALTERING_FAILURES:
            self.altered = True
        if kill and self.worker is not None:
            self.worker.kill()
        if kind == "protocol":
            self.audit.counts["protocol_violation"] += 1
        return Failed(kind, detail, elapsed)

    def ensure(self) -> None:
        """A worker with the program defined, or Failed (the worker is gone then)."""
        if self.worker is not None and not self.worker.closed:
            return
        self.audit.fold()
        if self.remaining() <= 0:
            raise Failed("deadline", "the evaluation ran out of time")
        self.worker = worker = self.sandbox.launch(self.seed)
        self.clock = self.clock or worker.cpu_source
        limit = self.task.load_time_limit
        charge = HostCharge()
        try:
            harness = {"harness": self.task.harness} if self.task.harness else {}
            worker.send({"op": "load", "program": self.program, "entrypoint": self.task.entrypoint,
                         "max_result": self.result_limit, **harness})
            try:
                first = worker.receive(min(START_TIMEOUT, max(0.0, self.remaining())), MESSAGE_ENVELOPE)
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
            started = time.perf_counter()
            reply, why, used = await_message(worker, limit, start_cpu, started, self.deadline, charge,
                                             MESSAGE_ENVELOPE, just_read=True)
            wall = time.perf_counter() - started
            if why is not None:
                reply = stop(worker, charge, MESSAGE_ENVELOPE)
            if reply is not None:
                self.audit.see(reply)
                used = cpu_used(worker, start_cpu, used)
            used += charge.seconds
        except ProtocolError as exc:
            raise self._fail("protocol", str(exc), kill=True) from None
        except ChannelClosed:
            raise self._fail("crash", worker.stderr_tail()[-DETAIL_CHARS:] or "the worker exited while loading",
                             kill=True) from None
        self.cpu_spent += used
        if why is None and used > limit:
            why = "cpu"
        if why is not None:
            kind, detail = over(why, limit, used, wall=wall)
            if why == "cpu":
                detail = f"defining the program took over {limit:g}s of CPU ({used:.3f}s)"
            elif why == "wall":
                detail = f"defining the program: {detail}"
            raise self._fail(kind, detail, kill=True)
        assert reply is not None
        if reply.get("op") != "loaded" or not isinstance(reply.get("ok"), bool):
            raise self._fail("protocol", "expected the `loaded` message", kill=True)
        if not reply["ok"]:
            failure = reply.get("kind")
            if failure not in LOAD_FAILURES:
                raise self._fail("protocol", f"unknown load failure {failure!r:.40}", kill=True)
            if failure in ALTERING_FAILURES:  # stopped, or out of memory: its state is unknown
                raise self._fail(str(failure), text(reply.get("error")), kill=True)
            # It reported the failure by the protocol and ends, as after its last call: a warm worker's zygote
            # sweeps and may serve again (a program that does not parse is common, and a fresh zygote costs
            # about 0.1 s of a core); the next `ensure` launches another.
            worker.retire()
            raise self._fail(str(failure), text(reply.get("error")), kill=False)
        if self.load_time is None:
            self.load_time = used

    def run(self, instance: Instance, upcoming: Instance | None = None,
            meanwhile: Callable[[], None] | None = None) -> InstanceOutcome | Answered:
        """One call of the entrypoint, charged with the worker's CPU time from sending its inputs to the output.

        Once the call is sent, and while the worker works on it, `meanwhile` runs (the previous instance's
        judgement) and the call of `upcoming` (the next instance) is encoded. A call answered within its limit
        with an output the host could decode comes back `Answered`: `judge` then gives its outcome.
        """
        self.call_started = time.perf_counter()
        self.call_wall = None
        try:
            result: InstanceOutcome | Answered = self._run(instance, upcoming, meanwhile)
        except Failed as failed:
            result = InstanceOutcome(self.task.failure_score, failed.elapsed, failed.kind, failed.detail)
        self.cpu_spent += result.elapsed
        wall = self.call_wall if self.call_wall is not None else time.perf_counter() - self.call_started
        return replace(result, wall=wall)

    def judge(self, answered: Answered) -> InstanceOutcome:
        """The task's verdict on an answered call (a scorer bug raises ScorerError)."""
        return judge(self.task, answered.instance, answered.output, answered.elapsed, answered.wall)

    def prepare(self, instance: Instance | None) -> None:
        """Encodes `instance`'s call ahead (the next `run` of that instance sends it as it is)."""
        self._prepared = None
        if instance is not None:
            attachment = bytearray()
            args = _wire.to_wire(list(instance.args), attachment=attachment)
            self._prepared = (instance, args, bytes(attachment))

    def _call(self, instance: Instance) -> tuple[dict[str, Any], bytes]:
        """`instance`'s call message and its attachment (the arguments' arrays as bytes: the worker decodes them much
        faster than JSON lists), as prepared or encoded now."""
        self.calls += 1
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] is instance:
            return {"op": "call", "n": self.calls, "args": prepared[1]}, prepared[2]
        attachment = bytearray()
        args = _wire.to_wire(list(instance.args), attachment=attachment)
        return {"op": "call", "n": self.calls, "args": args}, bytes(attachment)

    @contextlib.contextmanager
    def _talking(self, worker: Worker) -> Iterator[None]:
        """A broken channel as the instance's failure: a message off the protocol, or a worker gone."""
        try:
            yield
        except ProtocolError as exc:
            raise self._fail("protocol", str(exc), kill=True) from None
        except ChannelClosed:
            detail = worker.stderr_tail()[-DETAIL_CHARS:] or "the worker died"
            raise self._fail("crash", detail, kill=True) from None

    def _run(self, instance: Instance, upcoming: Instance | None,
             meanwhile: Callable[[], None] | None) -> Answered:
        limit = self.task.time_limit
        worker = self.worker
        assert worker is not None
        charge = HostCharge()  # what reading and decoding this call's messages costs the host: the program's too
        message, attachment = self._call(instance)
        with self._talking(worker):
            start_cpu = worker.cpu_time()
            started = self.call_started = time.perf_counter()
            # The worker decodes the inputs and calls the entrypoint at once: decoding is the program's time too
            # (charged from the reading above), and interrupted as the program is. A program that stops its worker
            # reading cannot hold this thread: the input must be taken within the call's wall-clock backstop.
            try:
                worker.send(message, attachment, timeout=max(0.0, min(backstop_for(limit), self.remaining())))
            except SendTimedOut as exc:
                self.call_wall = time.perf_counter() - started
                used = cpu_used(worker, start_cpu, 0.0)
                raise self._fail("timeout", f"{exc} (limit {limit:g}s)", kill=True, elapsed=used) from None
        if meanwhile is not None:  # the host's own work, outside the program's charge (its errors are its own)
            meanwhile()
        self.prepare(upcoming)
        with self._talking(worker):
            try:
                reply, why, used = await_message(worker, limit, start_cpu, started, self.deadline, charge,
                                                 self.result_limit, just_read=meanwhile is None)
            except MessageTooLong:
                raise self._refuse(worker, start_cpu, charge) from None
            self.call_wall = time.perf_counter() - started
            if why is not None:
                reply = stop(worker, charge, self.result_limit)
            if reply is not None:
                used = cpu_used(worker, start_cpu, used)
        if reply is None:  # it did not stop when interrupted: what it burnt meanwhile is charged too
            used = cpu_used(worker, start_cpu, used) + charge.seconds
            raise self._fail(*over(why or "cpu", limit, used, wall=self.call_wall), kill=True, elapsed=used)
        self.audit.see(reply)
        if reply.get("op") != "result" or not isinstance(reply.get("ok"), bool):
            raise self._fail("protocol", "expected the `result` message", kill=True)
        if reply.get("n") != message["n"]:  # a message the program forged, or one it made come out of turn
            raise self._fail("protocol", f"a result for call {str(reply.get('n'))[:20]}, not call {message['n']}",
                             kill=True)
        kind = reply.get("kind")
        if why is None and used + charge.seconds > limit:
            why = "cpu"
        if why is not None:
            raise self._fail(*over(why, limit, used + charge.seconds, charge.seconds, self.call_wall), kill=False,
                             elapsed=used + charge.seconds)
        if not reply["ok"]:
            if kind not in CALL_FAILURES:
                raise self._fail("protocol", f"unknown failure kind {kind!r:.40}", kill=True)
            raise self._fail(str(kind), text(reply.get("error")), kill=False, elapsed=used + charge.seconds)
        try:
            output = charge.decode(reply.get("output"))
        except _wire.WireError as exc:
            raise self._fail("protocol", f"undecodable output: {exc}", kill=True) from None
        if used + charge.seconds > limit:  # decoding its output took the host past the program's limit
            raise self._fail(*over("cpu", limit, used + charge.seconds, charge.seconds), kill=False,
                             elapsed=used + charge.seconds)
        return Answered(instance, output, used + charge.seconds)

    def _refuse(self, worker: Worker, start_cpu: float, charge: HostCharge) -> Failed:
        """The failure of a result message over the task's output bound: refused unread (the worker, told the
        bound, would have refused to send it: it was tampered with), and the worker replaced."""
        self.call_wall = time.perf_counter() - self.call_started
        used = cpu_used(worker, start_cpu, 0.0) + charge.seconds
        self.audit.counts["protocol_violation"] += 1
        return self._fail("bad_output", f"an output over this task's limit of {self.task.max_output_bytes} bytes "
                          f"(max_output_bytes): the result message passed {self.result_limit} bytes and was "
                          "refused unread", kill=True, elapsed=used)

    def close(self) -> None:
        """Ends the worker: `retire` (a warm worker's zygote may serve again) when nothing may have altered it."""
        if self.worker is not None:
            if self.altered or self.worker.closed:
                self.worker.kill()
            else:
                self.worker.retire()
        self.audit.fold()
