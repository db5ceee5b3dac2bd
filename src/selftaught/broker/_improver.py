"""Improver runs: `improve_algorithm` in a worker, its utility and LM calls served (and budgeted) here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selftaught.broker._services import Services
from selftaught.broker._utility import UtilityService
from selftaught.errors import BudgetExceeded, LMRefused
from selftaught.evaluate import ALTERING_FAILURES, AuditTotals
from selftaught.lm.session import LanguageModel
from selftaught.sandbox import ChannelClosed, ChannelTimeout, ProtocolError
from selftaught.sandbox._guest import _wire

#: What an improver's worker may report as its failure (anything else is `protocol`).
IMPROVER_FAILURES = frozenset({"no_code", "syntax", "exception", "missing_entrypoint", "timeout", "memory",
                               "no_solution"})


@dataclass(frozen=True)
class ImproverResult:
    """The outcome of one improver run: a solution, or a failure kind, plus what it used."""

    solution: str | None
    failure: str | None
    detail: str
    lm_calls: int
    utility_calls: int
    duration: float
    audit: dict[str, int] = field(default_factory=dict)


def run_improver(
    services: Services,
    program: str,
    initial_solution: str,
    utility: UtilityService,
    language_model: LanguageModel,
    *,
    seed: int = 0,
    **context: Any,
) -> ImproverResult:
    """Runs `improve_algorithm(initial_solution, utility, language_model)` in a worker.

    The run is recorded as an `improver_run` event (stream and level from the language model,
    `context` added), with the improver and what it returned stored as programs.

    `improver_timeout` bounds the improver's own time: time the orchestrator spends serving its
    utility and LM calls (which have budgets of their own) is not charged to it.

    The worker holds proxies only: each utility or LM call comes back here, where budgets are
    counted and enforced, so nothing the improver does to its proxies changes a real budget.
    """
    started = time.perf_counter()
    deadline = started + services.config.improver_timeout
    worker = services.launch_worker(seed)

    audit = AuditTotals()
    clean = False  # the improver said it was done, of its own accord (see `_ends_clean`)

    improver_digest = services.save_program(program, "improver")

    def result(solution: str | None, failure: str | None, detail: str = "") -> ImproverResult:
        audit.fold()
        outcome = ImproverResult(solution, failure, detail[-2000:], language_model.times_used, utility.uses,
                                 time.perf_counter() - started, dict(audit.counts))
        role = "improver" if language_model.level == "meta" else "solution"
        services.event("improver_run", stream=language_model.stream, level=language_model.level,
                       improver=improver_digest, failure=failure, detail=outcome.detail,
                       lm_calls=outcome.lm_calls, utility_calls=outcome.utility_calls,
                       duration=round(outcome.duration, 3), audit=outcome.audit,
                       solution=services.save_program(solution, role), **context)
        return outcome

    try:
        worker.send({
            "op": "improve",
            "program": program,
            "initial_solution": initial_solution,
            "utility": {"str": utility.description, "budget": utility.budget, "uses": utility.uses},
            "lm": {"budget": language_model.budget, "max_responses_per_call": language_model.max_responses_per_call},
        })
        while True:
            message = worker.receive(max(0.0, deadline - time.perf_counter()))
            op = message.get("op")
            if op == "call":
                served_at = time.perf_counter()
                worker.send(_serve(message, utility, language_model))
                deadline += time.perf_counter() - served_at  # time spent serving is not the improver's
            elif op == "done":
                audit.see(message)
                clean = _ends_clean(message)
                return _finished(message, result)
            else:
                return result(None, "protocol", f"unexpected message {op!r:.40}")
    except ChannelTimeout:
        return result(None, "timeout", f"improver ran over {services.config.improver_timeout:g}s")
    except ProtocolError as exc:
        return result(None, "protocol", str(exc))
    except ChannelClosed as exc:
        return result(None, "crash", worker.stderr_tail() or str(exc))
    finally:
        services.release_worker(worker, clean=clean)


def _ends_clean(message: dict[str, Any]) -> bool:
    """Whether an improver's `done` leaves a worker nothing may have altered: it returned, or failed in a known way
    that does not alter a worker (as evaluations judge it: not out of time or memory), so a warm worker's zygote
    may serve again, after its sweep."""
    kind = message.get("kind")
    return message.get("ok") is True or (kind in IMPROVER_FAILURES and kind not in ALTERING_FAILURES)


def _finished(message: dict[str, Any], result: Callable[..., ImproverResult]) -> ImproverResult:
    """The improver's `done` message, checked: a solution string, or a failure of a known kind."""
    ok, solution, kind = message.get("ok"), message.get("solution"), message.get("kind")
    error = message.get("error") if isinstance(message.get("error"), str) else ""
    if ok is True and isinstance(solution, str):
        return result(solution, None)
    if ok is True:
        return result(None, "no_solution", f"improve_algorithm returned {type(solution).__name__}, not a solution")
    if ok is False and kind in IMPROVER_FAILURES:
        return result(None, str(kind), error)
    return result(None, "protocol", f"malformed `done` message (kind {kind!r:.40})")


def _serve(message: dict[str, Any], utility: UtilityService, language_model: LanguageModel) -> dict[str, Any]:
    """Answers one proxy call; an improver's mistake becomes an error reply, never a host crash.

    The reply's `error_kind` tells the worker's proxy what to raise: `refused` (the provider refused
    the request) and `budget` become `helpers.LanguageModelError`, `invalid` a ValueError.
    """
    service = message.get("service")
    try:
        args = _wire.from_wire(message.get("args") or {})
        if not isinstance(args, dict):
            raise ValueError("malformed call")
        if service == "utility":
            value: Any = utility(args.get("solution"), list(args.get("args") or []), dict(args.get("kwargs") or {}))
            return {"op": "reply", "ok": True, "value": value, "uses": utility.uses}
        if service == "lm.prompt":
            value = language_model.prompt(args.get("expertise"), args.get("message"),
                                          args.get("n_responses", 1), args.get("temperature", 0.7))
        elif service == "lm.batch_prompt":
            value = language_model.batch_prompt(args.get("expertise"), args.get("messages"),
                                                args.get("temperature", 0.7))
        else:
            raise ValueError(f"unknown service {service!r}")
        utility.speculate(value)
        return {"op": "reply", "ok": True, "value": value, "uses": language_model.times_used}
    except (BudgetExceeded, LMRefused, ValueError, TypeError, _wire.WireError) as exc:
        uses = utility.uses if service == "utility" else language_model.times_used
        kind = "budget" if isinstance(exc, BudgetExceeded) else "refused" if isinstance(exc, LMRefused) else "invalid"
        return {"op": "reply", "ok": False, "error": str(exc), "error_kind": kind, "uses": uses}
