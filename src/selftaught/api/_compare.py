"""`compare A B`: is improver B better than A? A paired test on the same instances and downstream seeds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from selftaught.api._refs import ImproverRef
from selftaught.api._reporting import Reporter
from selftaught.api._setup import backend_warnings, sandbox_record, services_for
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.stop.compare import Comparison, compare_improvers
from selftaught.stop.formulations import describe
from selftaught.tasks import get_task


@dataclass(frozen=True)
class CompareResult:
    """The comparison (intervals, difference, p-value, verdict) and what `compare --json` prints."""

    comparison: Comparison
    a: ImproverRef
    b: ImproverRef
    data: dict[str, Any] = field(repr=False)

    @property
    def p_value(self) -> float:
        return self.comparison.p_value

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def task_of(config: Config, refs: list[ImproverRef], task_given: bool) -> Config:
    """`config` with the task of the run(s) A and B come from, unless a task was given."""
    if task_given:
        return config
    tasks = {ref.run_task for ref in refs if ref.run_task is not None}
    if len(tasks) > 1:
        raise UserError(f"A and B come from runs on different tasks ({', '.join(sorted(tasks))}): "
                        "choose one with --task")
    return dataclasses.replace(config, task=tasks.pop()) if tasks else config


def run_compare(config: Config, reporter: Reporter, a: ImproverRef, b: ImproverRef, *, split: str = "test"
                ) -> CompareResult:
    """The paired comparison of `a` and `b` on `config.task`'s `split`."""
    task = get_task(config.task)
    services = services_for(config, reporter)
    try:
        result = compare_improvers(services, task, a.program, b.program, split=split)
    finally:
        services.close()
    data = {"improvers": {"a": _ref_record(a), "b": _ref_record(b)}, **result.record(), "seed": config.seed,
            "formulation": describe(config),
            "counters": dict(services.counters), "sandbox": sandbox_record(services.sandbox_choice),
            "usage": services.usage_report(), "split_secret": services.secret.record(),
            "warnings": [*backend_warnings(services.backend), *_secret_warnings([a, b], services.secret.fingerprint),
                         *result.failure_notes(only_broken=True)]}
    for warning in data["warnings"]:
        reporter.warn(warning)
    return CompareResult(comparison=result, a=a, b=b, data=data)


def _secret_warnings(refs: list[ImproverRef], fingerprint: str) -> list[str]:
    """A run measured on other instances than these (another split secret): the comparison still holds here."""
    return [f"{ref.ref} comes from a run with another split secret ({ref.run_secret}; here {fingerprint}): both "
            "improvers are compared on this secret's instances, not those the run measured on"
            for ref in refs if ref.run_secret is not None and ref.run_secret != fingerprint]


def _ref_record(ref: ImproverRef) -> dict[str, Any]:
    return {"ref": ref.ref, "path": str(ref.path) if ref.path is not None else None, "run_task": ref.run_task}
