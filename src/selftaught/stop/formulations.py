"""The paper's other formulations: the maximizer (no seed solution) and I^k (an improver applied k times)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selftaught.broker import ImproverResult, Services, TaskUtility, run_improver
from selftaught.config import Config
from selftaught.tasks import Task

#: The purposes of downstream runs made at test time, where `Config.iterate` applies (and `selftaught improve`).
#: Selection and the reported figure of a run's I_t (`select`, `measure`) apply the improver once, as the paper does.
TEST_TIME = ("transfer", "compare", "arena")


def initial_solution(config: Config, task: Task) -> str:
    """What an improver run on `task` starts from: the task's seed solution, or (the maximizer formulation) the empty
    solution, so that the seed improver's prompt shows an empty code block and the task's description only."""
    return "" if config.maximizer else task.seed_solution


def passes(config: Config, purpose: str) -> int:
    """How many times an improver is applied in one downstream run made for `purpose` (k at test time, else 1)."""
    return config.iterate if purpose in TEST_TIME else 1


def pass_stream(stream: str, index: int) -> str:
    """The LM stream of pass `index` (1-based): the first pass keeps the run's own stream (so k = 1 is the run of
    before, sample for sample), each later one draws fresh samples from `<stream>/pass<index>`."""
    return stream if index == 1 else f"{stream}/pass{index}"


def pass_context(index: int, count: int) -> dict[str, Any]:
    """What a pass's records add (nothing when the improver is applied once: the records of before)."""
    return {"pass": index, "passes": count} if count > 1 else {}


@dataclass(frozen=True)
class Passes:
    """The passes of one application of I^k: `final` is the run as one improver run (the last solution a pass
    returned, the LM and utility calls of all passes), `each` every pass's own outcome, in order."""

    final: ImproverResult
    each: tuple[ImproverResult, ...]

    def record(self) -> list[dict[str, Any]]:
        """Each pass's calls and failure (for a command's `--json`)."""
        return [{"pass": i + 1, "lm_calls": p.lm_calls, "utility_calls": p.utility_calls, "failure": p.failure}
                for i, p in enumerate(self.each)]


def improve_passes(services: Services, improver: str, initial: str, count: int, *, stream: str, level: str = "task",
                   utility_for: Callable[[int], TaskUtility], seed_for: Callable[[str], int],
                   **context: Any) -> Passes:
    """Applies `improver` `count` times: pass j starts from the solution pass j-1 returned (a failed pass keeps the
    solution before it), with its own LM stream (`pass_stream`), a fresh LM budget and a fresh utility
    (`utility_for(j)`, with its full budget). A pass's worker is seeded with `seed_for(its stream)`.

    With `count` = 1 this is exactly one `run_improver`. Otherwise the solution is the last one a pass returned;
    none: the run failed as its last failed pass did.
    """
    current, each = initial, []
    for index in range(1, count + 1):
        name = pass_stream(stream, index)
        outcome = run_improver(services, improver, current, utility_for(index),
                               services.language_model(name, level=level), seed=seed_for(name),
                               **context, **pass_context(index, count))
        each.append(outcome)
        if outcome.solution is not None:
            current = outcome.solution
        if services.stopping.is_set():
            break
    if count == 1:
        return Passes(each[0], tuple(each))
    return Passes(_combined(each), tuple(each))


def _combined(each: list[ImproverResult]) -> ImproverResult:
    solution = next((p.solution for p in reversed(each) if p.solution is not None), None)
    failed = [(i + 1, p) for i, p in enumerate(each) if p.failure is not None]
    notes = [f"pass {i} failed ({p.failure}): {p.detail.strip()[-400:]}" for i, p in failed]
    failure = failed[-1][1].failure if solution is None and failed else None
    if solution is None and failure is None:  # every pass stopped before it returned (the services stopping)
        failure = "no_solution"
    audit: Counter[str] = Counter()
    for p in each:
        audit.update(p.audit)
    return ImproverResult(solution, failure, "\n".join(notes)[-2000:], sum(p.lm_calls for p in each),
                          sum(p.utility_calls for p in each), sum(p.duration for p in each), dict(audit))


def describe(config: Config) -> dict[str, Any]:
    """The formulation a command used, for its `--json`: where improver runs start, k, and the budgets of each
    pass (every pass has the full budgets of one improver run)."""
    return {
        "maximizer": config.maximizer,
        "initial_solution": "empty (maximizer)" if config.maximizer else "the task's seed solution",
        "iterate": config.iterate,
        "per_pass": {"lm_budget": config.lm_budget, "max_responses_per_call": config.max_responses_per_call,
                     "utility_budget": config.utility_budget},
    }


def describe_line(record: dict[str, Any]) -> str:
    """One line for people from a `describe` record: the formulation, when it is not the paper's usual one (else the
    empty string)."""
    k, maximizer, budgets = int(record.get("iterate", 1)), bool(record.get("maximizer")), record.get("per_pass") or {}
    if not maximizer and k == 1:
        return ""
    start = "from the empty solution (maximizer)" if maximizer else "from the task's seed solution"
    applied = f"each improver applied {k} times (I^{k}), each pass from the previous pass's solution; " if k > 1 else ""
    per = "per pass" if k > 1 else "per improver run"
    return (f"formulation: {applied}improver runs start {start}; {per}: {budgets.get('lm_budget')} LM calls (up "
            f"to {budgets.get('max_responses_per_call')} responses each), {budgets.get('utility_budget')} utility "
            "calls")
