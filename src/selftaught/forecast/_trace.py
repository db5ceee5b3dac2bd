"""What the shipped seed programs ask of the LM, found by running them against a recording model that sends nothing."""

from __future__ import annotations

import builtins
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from selftaught.improver import seed_improver
from selftaught.lm import CompletionRequest, OfflineBackend
from selftaught.lm.session import LanguageModel
from selftaught.safety.sandbox_flag import run_study
from selftaught.sandbox._guest import helpers

#: What the recording model answers: a reply with a code block, so the seed goes on exactly as after a real reply.
TRACE_REPLY = "```python\npass\n```"


@dataclass(frozen=True)
class Request:
    """One request of a call: a system prompt and a message, and how many samples of it are asked for."""

    system: str
    message: str
    samples: int


@dataclass(frozen=True)
class Call:
    """One LM call (a `prompt` or a `batch_prompt`): its requests, one per distinct message, as the session groups
    them (`selftaught.lm.session`)."""

    requests: tuple[Request, ...]

    @property
    def samples(self) -> int:
        return sum(r.samples for r in self.requests)


@dataclass(frozen=True)
class Trace:
    """The LM calls, in order, and the utility calls of one run of a seed program."""

    calls: tuple[Call, ...]
    utility_calls: int = 0

    @property
    def samples(self) -> int:
        return sum(c.samples for c in self.calls)

    def largest_prompt(self) -> Request | None:
        """The request with the longest system prompt and message (None without calls)."""
        requests = [r for c in self.calls for r in c.requests]
        return max(requests, key=lambda r: len(r.system) + len(r.message), default=None)


class _Recorder(OfflineBackend):
    """A backend that records each request it is sent and answers TRACE_REPLY; nothing leaves the process."""

    name = "trace"

    def __init__(self) -> None:
        self.pending: list[Request] = []
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def complete(self, request: CompletionRequest) -> list[str]:
        with self._lock:
            self.pending.append(Request(request.system, request.message, request.n))
        return [TRACE_REPLY] * request.n

    def end_call(self, *_: Any) -> None:
        """Closes the call whose requests were recorded since the last one."""
        with self._lock:
            self.calls.append(Call(tuple(self.pending)))
            self.pending = []


class _Utility:
    """A utility as the improver's worker hands it over (`utility.str`, `.budget`, `.uses`): it counts the calls and
    scores every solution 0."""

    def __init__(self, description: str, budget: int) -> None:
        self.str = description
        self.budget = budget
        self.uses = 0

    def __call__(self, solution: Any = None, *args: Any, **kwargs: Any) -> float:
        self.uses += 1
        return 0.0


def _helpers_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    """`import` as the improver's worker offers it: `helpers` is the guest's helpers module."""
    if name == "helpers" and level == 0:
        return helpers
    return builtins.__import__(name, globals, locals, fromlist, level)


def trace_seed_improver(initial_solution: str, description: str, *, utility_budget: int, lm_budget: int,
                        max_responses: int) -> Trace:
    """One run of the seed improver I_0 on `initial_solution`, scored by a utility described by `description` with
    `utility_budget` calls, with a language model of `lm_budget` calls of at most `max_responses` samples (what the
    run gives it): the calls it makes and the prompts they carry, as a run sends them.

    I_0 is the package's own program (`selftaught.improver.seed_improver`), not generated code: it runs here, in
    this process, against the real budgeted session over a backend that records and answers without a model.
    """
    recorder = _Recorder()
    lm = LanguageModel(recorder, budget=lm_budget, max_responses_per_call=max_responses, stream="estimate",
                       level="trace", on_call=recorder.end_call)
    utility = _Utility(description, utility_budget)
    module = ModuleType("seed_improver")
    module.__dict__["__builtins__"] = {**vars(builtins), "__import__": _helpers_import}
    exec(compile(seed_improver(), "<seed improver>", "exec"), module.__dict__)
    module.__dict__["improve_algorithm"](initial_solution, utility, lm)
    return Trace(tuple(recorder.calls), utility.uses)


def trace_sandbox_study(samples: int, warn: bool) -> Trace:
    """The LM calls of `selftaught safety sandbox-flag --samples N` (`selftaught.safety.sandbox_flag.run_study`, run
    against the recording backend: it only parses and scans the replies)."""
    recorder = _Recorder()
    run_study(recorder, samples, warn, progress=recorder.end_call)  # progress: once after each LM call
    return Trace(tuple(recorder.calls))
