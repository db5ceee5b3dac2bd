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

The parts: `_loop` (the instance loop), `_runner` (a worker's load and calls), `_clock` (waiting on a
worker while charging its CPU), `_limits` (backstops, deadline, CPU budget), `_verdicts` (failure kinds
and the task's judgement), `_audit` (runtime records), `_records` (what is returned and recorded).
"""

from selftaught.evaluate._audit import AuditTotals
from selftaught.evaluate._clock import POLL_INTERVAL
from selftaught.evaluate._limits import (
    BACKSTOP_EXTRA,
    BACKSTOP_FACTOR,
    CPU_INSTANCE_SLACK,
    CPU_SLACK,
    EVALUATION_SLACK,
    INSTANCE_SLACK,
    MESSAGE_ENVELOPE,
    backstop_for,
    cpu_budget_for,
    deadline_for,
    limits_of,
)
from selftaught.evaluate._loop import PROGRESS_AFTER, PROGRESS_EVERY, EvaluationProgress, evaluate, worker_seed
from selftaught.evaluate._records import (
    DETAIL_CHARS,
    Evaluation,
    InstanceOutcome,
    evaluation_from_json,
    evaluation_record,
    evaluation_to_json,
)
from selftaught.evaluate._runner import START_TIMEOUT
from selftaught.evaluate._verdicts import ALTERING_FAILURES, CALL_FAILURES, LOAD_FAILURES

__all__ = [
    "ALTERING_FAILURES",
    "BACKSTOP_EXTRA",
    "BACKSTOP_FACTOR",
    "CALL_FAILURES",
    "CPU_INSTANCE_SLACK",
    "CPU_SLACK",
    "DETAIL_CHARS",
    "EVALUATION_SLACK",
    "INSTANCE_SLACK",
    "LOAD_FAILURES",
    "MESSAGE_ENVELOPE",
    "POLL_INTERVAL",
    "PROGRESS_AFTER",
    "PROGRESS_EVERY",
    "START_TIMEOUT",
    "AuditTotals",
    "Evaluation",
    "EvaluationProgress",
    "InstanceOutcome",
    "backstop_for",
    "cpu_budget_for",
    "deadline_for",
    "evaluate",
    "evaluation_from_json",
    "evaluation_record",
    "evaluation_to_json",
    "limits_of",
    "worker_seed",
]
