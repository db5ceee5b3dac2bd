"""The paper's LanguageModel interface, served by the orchestrator: budget, sample indices, records."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selftaught.errors import BudgetExceeded, LMRefused, SelftaughtError
from selftaught.lm._base import Backend, CompletionRequest, Generation
from selftaught.lm.caps import RunCaps
from selftaught.sandbox._guest._wire import plain_text

BUDGET_MESSAGE = "Error: You have exceeded your call budget."
MAX_PARALLEL_GROUPS = 8  # distinct messages of one batch sent at once (each backend bounds its own requests)


class BackendFault(LMRefused):
    """A backend raised an unexpected exception on one request (a bug, a recursion limit, a reply an SDK could
    not handle): that call fails like a refused one (counted, recorded, `helpers.LanguageModelError` in the
    improver), and the run goes on. Deliberate errors (LMError: authentication, quota; UserError) stay fatal."""


def stream_seed(run_seed: int, stream: str) -> int:
    """Mixes the run's seed with a stream's name (which improver run, which level)."""
    digest = hashlib.sha256(f"{run_seed}\x00{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class LanguageModel:
    """A language model with a call budget, as an improver sees it (through its proxy).

    One instance per improver run. `budget` counts calls (a `prompt` or a `batch_prompt` is one
    call); `max_responses_per_call` caps `n_responses` and the size of a batch. Replies are
    deterministic for deterministic backends: sample indices count identical requests on this
    stream, so they do not depend on what other streams do concurrently.

    A request the provider refuses (LMRefused) still counts as a call: it is reported to `on_call`
    with `refused` true, the `error`, no replies, and then raised to the caller. So is a request on
    which the backend raised anything else than a SelftaughtError (BackendFault, `backend_fault` true).

    `caps` (the run's RunCaps) reserves each call's worst case before it is sent, and may lower its
    `max_tokens` or stop the run (RunLimitReached); the reservation ends once `on_call` has counted it.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        budget: int,
        max_responses_per_call: int,
        run_seed: int = 0,
        stream: str = "main",
        level: str = "task",
        on_call: Callable[[dict[str, Any]], None] | None = None,
        before_call: Callable[[], None] | None = None,
        caps: RunCaps | None = None,
        temperature_override: float | None = None,
    ) -> None:
        self.backend = backend
        self.budget = budget
        self.max_responses_per_call = max_responses_per_call
        self.stream = stream
        self.level = level
        self.times_used = 0
        self.responses = 0
        self._seed = stream_seed(run_seed, stream)
        self._samples: Counter[str] = Counter()
        self._on_call = on_call
        self._before_call = before_call
        self._caps = caps
        self._temperature_override = temperature_override
        self._lock = threading.Lock()

    # Arguments come from untrusted improvers: typed Any, validated here.
    def prompt(self, expertise: Any, message: Any, n_responses: Any = 1, temperature: Any = 0.7) -> list[str]:
        """`n_responses` replies to one message."""
        _check_text("expertise", expertise)
        _check_text("message", message)
        if isinstance(n_responses, bool) or not isinstance(n_responses, int) or n_responses < 1:
            raise ValueError("n_responses must be a positive integer")
        if n_responses > self.max_responses_per_call:  # checked before the list is built: n may be 10**30
            raise ValueError(f"at most {self.max_responses_per_call} responses per call (asked for {n_responses})")
        return self._ask(expertise, [message] * n_responses, temperature, "prompt")

    def batch_prompt(self, expertise: Any, messages: Any, temperature: Any = 0.7) -> list[str]:
        """One reply to each message of the batch, in order."""
        _check_text("expertise", expertise)
        if not isinstance(messages, list) or not messages:
            raise ValueError("messages must be a non-empty list of strings")
        for m in messages:
            _check_text("each message", m)
        return self._ask(expertise, messages, temperature, "batch_prompt")

    def _ask(self, system: str, messages: list[str], temperature: float, method: str) -> list[str]:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise ValueError("temperature must be a number between 0 and 2")
        if self._temperature_override is not None:
            temperature = self._temperature_override
        if len(messages) > self.max_responses_per_call:
            raise ValueError(
                f"at most {self.max_responses_per_call} responses per call (asked for {len(messages)})"
            )
        with self._lock:
            if self.times_used >= self.budget:
                raise BudgetExceeded(BUDGET_MESSAGE)
            self.times_used += 1
            # Group identical messages into one request and give each its sample indices.
            order: list[tuple[str, int]] = []
            groups: dict[str, CompletionRequest] = {}
            for m in messages:
                probe = CompletionRequest(system, m, float(temperature), 1, 0, self._seed)
                key = probe.content_key()
                if key not in groups:
                    groups[key] = CompletionRequest(system, m, float(temperature), 0, self._samples[key], self._seed)
                req = groups[key]
                order.append((key, req.n))
                groups[key] = dataclasses.replace(req, n=req.n + 1)
            for key, req in groups.items():
                self._samples[key] += req.n
        if self._before_call is not None:
            self._before_call()  # e.g. the run is stopping: raises
        held = None
        if self._caps is not None:  # may stop the run
            held = self._caps.reserve(list(groups.values()), self.backend.prompt_copies)
        try:
            if held is not None and held.max_tokens is not None:  # the dollar cap leaves room for shorter replies
                groups = {key: dataclasses.replace(req, max_tokens=held.max_tokens) for key, req in groups.items()}
            return self._call(system, messages, temperature, method, groups, order)
        finally:
            if held is not None and self._caps is not None:  # after its usage was reported (and counted)
                self._caps.release(held)

    def _call(self, system: str, messages: list[str], temperature: float, method: str,
              groups: dict[str, CompletionRequest], order: list[tuple[str, int]]) -> list[str]:
        """Sends the call's requests, reports the call, and returns its replies in order (or raises its failure)."""
        started = time.perf_counter()
        answers, refusals = self._generate(groups)
        record: dict[str, Any] = {
            "level": self.level,
            "stream": self.stream,
            "method": method,
            "backend": self.backend.name,
            "model": self.backend.model,
            "system": system,
            "messages": messages,
            "temperature": temperature,
            "samples": [groups[key].first_sample + i for key, i in order],
            "max_tokens": next(iter(groups.values())).max_tokens,  # None: as configured (not lowered by a cap)
        }
        if refusals:  # counted (budget, usage, events), then the improver gets the refusal
            self._report({**record, "replies": [], "finish_reasons": [], **_accounting(answers.values()),
                          "duration": round(time.perf_counter() - started, 4),
                          "refused": True, "error": str(refusals[0]),
                          "backend_fault": isinstance(refusals[0], BackendFault)})
            raise refusals[0]
        replies = [plain_text(answers[key].replies[i]) for key, i in order]  # sendable to a worker, always
        self.responses += len(replies)
        self._report({**record, "replies": replies,
                      "finish_reasons": [_reason(answers[key], i) for key, i in order],
                      **_accounting(answers.values()), "duration": round(time.perf_counter() - started, 4),
                      "refused": False, "error": None, "backend_fault": False})
        return replies

    def _generate(self, groups: dict[str, CompletionRequest]) -> tuple[dict[str, Generation], list[LMRefused]]:
        """Each group's generation, the groups of a batch concurrently; the failed groups' LMRefused apart."""
        label = f"{self.backend.name}:{self.backend.model}" if self.backend.model else self.backend.name
        if len(groups) == 1:
            calls = {key: _outcome(self.backend.generate, req, label) for key, req in groups.items()}
        else:  # different messages of one batch go out concurrently
            with ThreadPoolExecutor(max_workers=min(len(groups), MAX_PARALLEL_GROUPS)) as pool:
                futures = {key: pool.submit(_outcome, self.backend.generate, req, label)
                           for key, req in groups.items()}
            calls = {key: future.result() for key, future in futures.items()}
        answers = {key: got for key, got in calls.items() if isinstance(got, Generation)}
        return answers, [got for got in calls.values() if isinstance(got, LMRefused)]

    def _report(self, record: dict[str, Any]) -> None:
        if self._on_call is not None:
            self._on_call(record)


def _accounting(generations: Iterable[Generation]) -> dict[str, Any]:
    """The tokens, requests and cache hits of a call's generations (of the groups that got replies)."""
    done = list(generations)
    notes = list(dict.fromkeys(g.estimate_reason for g in done if g.estimated and g.estimate_reason))
    return {
        "input_tokens": sum(g.input_tokens for g in done),
        "output_tokens": sum(g.output_tokens for g in done),
        "requests": sum(g.requests for g in done),
        "cache_hits": sum(g.cache_hits for g in done),
        "estimated_tokens": any(g.estimated for g in done),
        "estimated_reason": "; ".join(notes) or None,
    }


def _outcome(generate: Callable[[CompletionRequest], Generation],
             request: CompletionRequest, label: str) -> Generation | LMRefused:
    """The generation, or why this request failed: the provider's refusal, or a BackendFault for any exception
    that is not one of selftaught's own (those, e.g. LMError, propagate: they stop the run) and for a
    generation that is not `request.n` texts."""
    try:
        got = generate(request)
    except LMRefused as refused:
        return refused
    except SelftaughtError:
        raise
    except Exception as exc:
        return BackendFault(f"{label}: the backend failed on this request: {type(exc).__name__}: {exc}"[:500])
    replies = getattr(got, "replies", None)
    if not isinstance(replies, list) or len(replies) != request.n or not all(isinstance(r, str) for r in replies):
        count = f"{len(replies)} replies" if isinstance(replies, list) else type(replies).__name__
        return BackendFault(f"{label}: the backend failed on this request: it returned {count} "
                            f"(not {request.n} texts)")
    return got


def _reason(generation: Generation, index: int) -> str | None:
    reasons = generation.finish_reasons
    return reasons[index] if index < len(reasons) else None


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
