"""Every library improver, run in-process against fakes: it keeps within the LM's and the utility's budgets, never
sends a batch over `max_responses_per_call`, survives refusals and code-less replies, and returns the solution that
obtained the best score it saw (or the initial solution, if it scored nothing)."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import selftaught.sandbox
from selftaught.improver import LIBRARY, improver_names, improver_program

GUEST = str(Path(selftaught.sandbox.__file__).resolve().parent / "_guest")
INITIAL = "def algorithm(x):\n    return 0\n"
STRATEGIES = [name for name in improver_names() if name != "seed"]


@pytest.fixture(autouse=True)
def guest_helpers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`from helpers import ...` finds the worker's helpers, as it does in a worker."""
    monkeypatch.syspath_prepend(GUEST)
    monkeypatch.delitem(sys.modules, "helpers", raising=False)
    random.seed(0)
    yield


def load(name: str) -> Callable[..., Any]:
    module = types.ModuleType(f"library_{name}")
    exec(compile(improver_program(name), f"<{name}>", "exec"), module.__dict__)
    fn: Callable[..., Any] = module.__dict__["improve_algorithm"]
    return fn


class Overrun(AssertionError):
    """A fake was called past its budget (raised where the improver cannot mistake it for a refusal)."""


class FakeLM:
    """A language model as an improver sees it: each message's reply is `reply(call, index, message)`, a string or an
    exception to raise for the whole call (a refusal). Every call and batch size is recorded."""

    def __init__(self, reply: Callable[[int, int, str], str | Exception], budget: int = 4, width: int = 6) -> None:
        self.reply = reply
        self.budget = budget
        self.max_responses_per_call = width
        self.times_used = 0
        self.batches: list[int] = []
        self.overrun = False

    def batch_prompt(self, expertise: str, messages: list[str], temperature: float = 0.7) -> list[str]:
        assert isinstance(expertise, str) and 0 <= temperature <= 2
        self.times_used += 1
        self.batches.append(len(messages))
        if self.times_used > self.budget:
            self.overrun = True
        replies = [self.reply(self.times_used, i, m) for i, m in enumerate(messages)]
        for r in replies:
            if isinstance(r, Exception):
                raise r
        return [str(r) for r in replies]

    def prompt(self, expertise: str, message: str, n_responses: int = 1, temperature: float = 0.7) -> list[str]:
        return self.batch_prompt(expertise, [message] * n_responses, temperature)


class FakeUtility:
    """A noisy utility that logs each (solution, score) it gave; past its budget it marks the run overrun."""

    def __init__(self, budget: int = 25, seed: int = 1) -> None:
        self.str = "def utility(algorithm_str): ... the fraction of instances algorithm(x) gets right"
        self.budget = budget
        self.uses = 0
        self.log: list[tuple[Any, float]] = []
        self.overrun = False
        self._rng = random.Random(seed)

    def __call__(self, solution: Any) -> float:
        self.uses += 1
        if self.uses > self.budget:
            self.overrun = True
        value = self._rng.random()
        self.log.append((solution, value))
        return value


def program(call: int, index: int) -> str:
    return f"Here is my idea.\n```python\ndef algorithm(x):\n    return {call * 100 + index}\n```\n"


def mixed(call: int, index: int, message: str) -> str | Exception:
    """Code, words without code, and (on the second call) a refusal of the whole call."""
    from helpers import LanguageModelError

    if call == 2:
        return LanguageModelError("the provider refused the request (content policy)")
    return program(call, index) if index % 3 != 1 else "I would rather not write code today."


def always_code(call: int, index: int, message: str) -> str:
    return program(call, index)


def refused(call: int, index: int, message: str) -> Exception:
    from helpers import LanguageModelError

    return LanguageModelError("Error: You have exceeded your call budget.")


def crashing(call: int, index: int, message: str) -> Exception:
    return RuntimeError("the connection was reset")


def no_code(call: int, index: int, message: str) -> str:
    return "A" if "Which one" in message else "I cannot help with that."


def run(name: str, reply: Callable[[int, int, str], str | Exception], *, lm_budget: int = 4, width: int = 6,
        utility_budget: int = 25) -> tuple[Any, FakeLM, FakeUtility]:
    lm = FakeLM(reply, lm_budget, width)
    utility = FakeUtility(utility_budget)
    solution = load(name)(INITIAL, utility, lm)
    return solution, lm, utility


def check(solution: Any, lm: FakeLM, utility: FakeUtility) -> None:
    assert not lm.overrun and lm.times_used <= lm.budget
    assert all(0 < size <= lm.max_responses_per_call for size in lm.batches)
    assert not utility.overrun and utility.uses <= utility.budget
    assert isinstance(solution, str)
    if not utility.log:
        assert solution == INITIAL
        return
    best = max(value for _, value in utility.log)
    assert any(s == solution and value == best for s, value in utility.log), "not the best-scoring solution"


def test_the_library_names_are_the_issues_and_each_program_defines_improve_algorithm() -> None:
    assert improver_names() == ("seed", "beam_search", "genetic", "genetic_implicit", "annealing", "decompose",
                                "bandit", "temperature", "ucb", "islands", "map_elites")
    for improver in LIBRARY:
        assert improver.summary and "\n" not in improver.summary
        assert callable(load(improver.name))


@pytest.mark.parametrize("name", improver_names())
def test_with_code_in_every_reply_each_improver_keeps_its_budgets_and_returns_its_best(name: str) -> None:
    solution, lm, utility = run(name, always_code)
    check(solution, lm, utility)
    assert lm.times_used >= 1 and len(utility.log) >= 2  # it did search


@pytest.mark.parametrize("name", STRATEGIES)
def test_refusals_and_replies_without_code_are_survived(name: str) -> None:
    solution, lm, utility = run(name, mixed)
    check(solution, lm, utility)
    assert lm.times_used == lm.budget  # a refused call does not end the search
    assert any(s != INITIAL for s, _ in utility.log)


@pytest.mark.parametrize("reply", [refused, crashing, no_code], ids=["refused", "crashing", "no_code"])
@pytest.mark.parametrize("name", STRATEGIES)
def test_when_no_reply_has_code_the_initial_solution_is_returned(name: str, reply: Any) -> None:
    solution, lm, utility = run(name, reply)
    check(solution, lm, utility)
    assert solution == INITIAL
    assert [s for s, _ in utility.log] == [INITIAL]  # scored once, never a reply without code


@pytest.mark.parametrize("name", STRATEGIES)
def test_tight_budgets_are_kept(name: str) -> None:
    solution, lm, utility = run(name, always_code, lm_budget=2, width=2, utility_budget=3)
    check(solution, lm, utility)
    assert utility.uses == 3  # all of a small budget used, none beyond it


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_spent_lm_or_utility_budget_leaves_the_initial_solution(name: str) -> None:
    for lm_budget, utility_budget in ((0, 25), (4, 0)):
        solution, lm, utility = run(name, always_code, lm_budget=lm_budget, utility_budget=utility_budget)
        check(solution, lm, utility)
        assert solution == INITIAL


@pytest.mark.parametrize("name", STRATEGIES)
def test_budgets_already_partly_used_are_counted(name: str) -> None:
    lm = FakeLM(always_code, budget=4, width=3)
    lm.times_used = 3  # one call left
    utility = FakeUtility(budget=10)
    utility.uses = 8  # two scores left
    solution = load(name)(INITIAL, utility, lm)
    assert lm.times_used == 4 and utility.uses == 10
    assert not lm.overrun and not utility.overrun and isinstance(solution, str)


def test_the_implicit_genetic_algorithm_scores_the_solutions_the_lm_judged_better() -> None:
    judged: dict[int, list[str]] = {}  # call -> the B solution of each comparison

    def judge(call: int, index: int, message: str) -> str:
        if "Which one" in message:
            judged.setdefault(call, []).append(message.split("Solution B:\n```python\n")[1].split("\n```")[0])
            return "Solution B looks stronger.\nB"
        return program(call, index)

    solution, lm, utility = run("genetic_implicit", judge, utility_budget=2)
    check(solution, lm, utility)
    assert judged, "no comparison was asked of the LM"
    last = judged[max(judged)]
    assert utility.log[0][0] == INITIAL
    assert utility.log[1][0].strip() in {b.strip() for b in last}  # the utility's one choice: a winner the LM chose
