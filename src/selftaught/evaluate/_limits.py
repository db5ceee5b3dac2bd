"""The limits of an evaluation: each CPU limit's wall-clock backstop, the whole evaluation's deadline and CPU budget."""

from __future__ import annotations

from selftaught.tasks import Task

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
# Bytes a solution worker's message may take besides an output: the runtime audit record (5 samples of
# 200 characters per kind), a failure's text (2,000 characters). The `loading` and `loaded`
# messages are held to it, a `result` to it plus the task's `max_output_bytes`.
MESSAGE_ENVELOPE = 256 * 1024


def backstop_for(limit: float) -> float:
    """Wall-clock seconds a program allowed `limit` seconds of CPU may take before it is stopped anyway."""
    return max(BACKSTOP_FACTOR * limit, limit + BACKSTOP_EXTRA)


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


def result_limit(task: Task) -> int:
    """Bytes of a `result` message the host reads (the worker is told, and refuses to send more)."""
    return task.max_output_bytes + MESSAGE_ENVELOPE


def limits_of(task: Task, deadline: float, cpu_budget: float) -> dict[str, float]:
    """The limits an evaluation applies, as recorded."""
    return {"time_limit": task.time_limit, "load_time_limit": task.load_time_limit,
            "backstop": round(backstop_for(task.time_limit), 3),
            "load_backstop": round(backstop_for(task.load_time_limit), 3), "deadline": round(deadline, 3),
            "cpu_budget": round(cpu_budget, 3), "max_output_bytes": task.max_output_bytes}
