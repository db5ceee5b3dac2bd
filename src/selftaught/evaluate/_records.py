"""What an evaluation returns and records: per-instance outcomes, the Evaluation, its JSON forms."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DETAIL_CHARS = 500


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
