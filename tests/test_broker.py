"""Improvers run in workers against proxies: the orchestrator owns and enforces every budget."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from selftaught.broker import Services, TaskUtility, run_improver
from selftaught.config import Config
from selftaught.errors import LMRefused, ScorerError
from selftaught.evaluate import Evaluation
from selftaught.improver import seed_improver
from selftaught.lm import CompletionRequest, OfflineBackend
from selftaught.store import read_events
from support import BAD_SUM, GOOD_SUM, TEST_SECRET, SumTask, make_services

CHEATING_IMPROVER = '''
def improve_algorithm(initial_solution, utility, language_model):
    utility.budget = 10 ** 6
    language_model.budget = 10 ** 6
    scores = []
    for i in range(40):
        utility.uses = 0
        scores.append(utility("def algorithm(a):\\n    return int(sum(int(x) for x in a))\\n"))
    errors = 0
    for i in range(10):
        language_model.times_used = 0
        try:
            language_model.prompt("sys", "hello %d" % i)
        except Exception as exc:
            assert "budget" in str(exc)
            errors += 1
    return "def algorithm(a):\\n    return %r\\n" % ([sum(scores), errors, utility.uses],)
'''


def test_an_improver_that_overwrites_its_budgets_still_cannot_exceed_them(tmp_path: Path) -> None:
    services = make_services([GOOD_SUM], tmp_path, lm_budget=4, utility_budget=5)
    task = SumTask()
    utility = TaskUtility(services, task, "val", services.config.utility_budget)
    lm = services.language_model("t", level="task")
    result = run_improver(services, CHEATING_IMPROVER, task.seed_solution, utility, lm)
    assert result.failure is None and result.solution is not None
    total, errors, seen_uses = eval(result.solution.split("return ")[1])  # our own test's output
    assert total == 5.0  # only the first 5 calls were really scored
    assert errors == 6 and lm.times_used == 4  # 4 LM calls served, the other 6 refused
    assert utility.uses == 40 and seen_uses == 40  # the proxy mirrors the host's count
    events = read_events(tmp_path / "run")
    assert sum(1 for e in events if e["kind"] == "lm_call") == 4
    scored = [e for e in events if e["kind"] == "utility_call"]
    assert sum(1 for e in scored if e.get("failure") == "budget") == 35


def test_the_paper_seed_improver_runs_unchanged_and_returns_the_best_sample() -> None:
    # Five bad replies and one good one: extract_code + max(key=utility) must find the good one.
    services = make_services([BAD_SUM] * 5 + [GOOD_SUM])
    task = SumTask()
    utility = TaskUtility(services, task, "val", 25)
    lm = services.language_model("t", level="task")
    result = run_improver(services, seed_improver(), task.seed_solution, utility, lm)
    assert result.failure is None
    assert result.solution is not None and "sum(int(x)" in result.solution
    assert result.lm_calls == 1 and result.utility_calls == 6


PAPER_STYLE_IMPROVER = '''
from helpers import extract_code

def improve_algorithm(initial_solution, utility, language_model):
    """Varies temperature across calls, keeps the best (in the style of the paper's GPT-4 improvers)."""
    expertise = "You are an expert computer science researcher and programmer."
    message = f"""Improve the following solution:
```python
{initial_solution}
```
Score function:
```python
{utility.str}
```"""
    best, best_score = initial_solution, utility(initial_solution)
    for temperature in [0.2, 0.6, 1.0]:
        if language_model.budget <= 0:
            break
        n = min(language_model.max_responses_per_call, 2)
        replies = language_model.batch_prompt(expertise, [message] * n, temperature=temperature)
        replies += language_model.prompt(expertise, message, n_responses=1, temperature=temperature)
        for code in extract_code(replies):
            if code is None:
                continue
            score = utility(code)
            if score > best_score:
                best, best_score = code, score
    return best
'''


def test_a_paper_style_improver_with_prompt_batch_and_temperatures_runs_unchanged() -> None:
    # Per temperature: the batch gets samples 0-1 (a bad one, one without code), prompt() gets sample 2.
    services = make_services([BAD_SUM, "no code here", GOOD_SUM], lm_budget=6)
    task = SumTask()
    utility = TaskUtility(services, task, "val", 25)
    lm = services.language_model("t", level="task")
    result = run_improver(services, PAPER_STYLE_IMPROVER, task.seed_solution, utility, lm)
    assert result.failure is None, result.detail
    assert result.solution is not None and services.evaluate(task, result.solution, "val").score == 1.0
    assert result.lm_calls == 6


def test_improver_failures_are_results_not_exceptions() -> None:
    services = make_services([GOOD_SUM], improver_timeout=2)
    task = SumTask()

    def run(program: str) -> tuple[str | None, str]:
        utility = TaskUtility(services, task, "val", 25)
        r = run_improver(services, program, task.seed_solution, utility, services.language_model("t", "task"))
        return r.failure, r.detail

    assert run("def improve_algorithm(s, u, lm)\n")[0] == "syntax"
    assert run("x = 1\n")[0] == "missing_entrypoint"
    failure, detail = run("def improve_algorithm(s, u, lm):\n    raise KeyError('boom')\n")
    assert failure == "exception" and "boom" in detail
    failure, detail = run("def improve_algorithm(s, u, lm):\n    return 42\n")
    assert failure == "no_solution" and "returned int" in detail
    failure, detail = run("def improve_algorithm(s, u, lm):\n    return None\n")
    assert failure == "no_solution" and "returned NoneType" in detail
    assert run("def improve_algorithm(s, u, lm):\n    while True:\n        pass\n")[0] == "timeout"
    assert run("import os\ndef improve_algorithm(s, u, lm):\n    os._exit(1)\n")[0] == "crash"


def test_the_improver_timeout_does_not_charge_time_spent_serving_its_calls() -> None:
    # Twenty distinct programs, each taking 0.1 s to load in a fresh worker: over 2 s of serving (whatever
    # the machine), while the improver's own compute is tiny.
    improver = (
        "def improve_algorithm(initial_solution, utility, language_model):\n"
        "    for i in range(20):\n"
        "        utility('import time\\ntime.sleep(0.1)\\ndef algorithm(a):\\n    return %d\\n' % i)\n"
        "    return initial_solution\n"
    )
    services = make_services([GOOD_SUM], improver_timeout=2)
    task = SumTask()
    utility = TaskUtility(services, task, "val", 25)
    result = run_improver(services, improver, task.seed_solution, utility, services.language_model("t", "task"))
    assert result.failure is None and result.utility_calls == 20
    assert result.duration > 2


class RefusingBackend(OfflineBackend):
    """Refuses any request whose message says "too long" (as a provider refuses an over-long context)."""

    name = "refusing"

    def complete(self, request: CompletionRequest) -> list[str]:
        if "too long" in request.message:
            raise LMRefused("HTTP 400: This model's maximum context length is 8192 tokens", 400)
        return [GOOD_SUM] * request.n


CATCHING_IMPROVER = '''
from helpers import LanguageModelError, extract_code

def improve_algorithm(initial_solution, utility, language_model):
    try:
        language_model.prompt("sys", "too long " * 3)
        note = "not refused"
    except LanguageModelError as exc:
        note = str(exc)
    code = extract_code(language_model.prompt("sys", "short"))[0]
    return code + "\\n# " + note + "\\n"
'''


def test_a_refused_lm_request_raises_inside_the_improver_which_may_go_on() -> None:
    services = Services(Config(lm_budget=4), RefusingBackend(), secret=TEST_SECRET)
    task = SumTask()
    utility = TaskUtility(services, task, "val", 25)
    lm = services.language_model("refusals", level="task")
    result = run_improver(services, CATCHING_IMPROVER, task.seed_solution, utility, lm)
    assert result.failure is None and result.solution is not None
    assert "# HTTP 400: This model's maximum context length is 8192 tokens" in result.solution
    assert result.lm_calls == 2  # the refused call counts
    assert services.evaluate(task, result.solution, "val").score == 1.0


def test_a_refusal_the_improver_lets_escape_fails_that_run_only() -> None:
    services = Services(Config(lm_budget=4), RefusingBackend(), secret=TEST_SECRET)
    task = SumTask()
    careless = ("def improve_algorithm(s, utility, language_model):\n"
                "    return language_model.prompt('x', 'too long')[0]\n")
    result = run_improver(services, careless, task.seed_solution, TaskUtility(services, task, "val", 25),
                          services.language_model("careless", level="task"))
    assert result.failure == "exception" and "LanguageModelError: HTTP 400: This model's maximum" in result.detail
    assert result.lm_calls == 1


def test_an_absurd_number_of_responses_is_the_improvers_error_not_the_hosts() -> None:
    # 10**30 is a valid wire integer; building a list that long would end the orchestrator.
    improver = (
        "def improve_algorithm(s, utility, language_model):\n"
        "    try:\n"
        "        language_model.prompt('sys', 'hello', n_responses=10**30)\n"
        "    except ValueError as exc:\n"
        "        return '# ' + str(exc)\n"
    )
    services = make_services([GOOD_SUM])
    task = SumTask()
    result = run_improver(services, improver, task.seed_solution, TaskUtility(services, task, "val", 25),
                          services.language_model("absurd", level="task"))
    assert result.failure is None
    assert result.solution == f"# at most 6 responses per call (asked for {10**30})"
    assert result.lm_calls == 0


def test_lm_text_that_is_not_unicode_reaches_the_improver_as_plain_text() -> None:
    # A server may send a lone surrogate ("\ud800" is valid JSON); it must not break the channel to the worker.
    services = make_services(["code \ud800 here"])
    improver = "def improve_algorithm(s, utility, language_model):\n    return language_model.prompt('s', 'm')[0]\n"
    task = SumTask()
    result = run_improver(services, improver, task.seed_solution, TaskUtility(services, task, "val", 25),
                          services.language_model("surrogates", level="task"))
    assert result.failure is None and result.solution == "code ? here"


def test_two_threads_asking_for_one_evaluation_at_once_run_it_once() -> None:
    # Downstream runs are parallel, and speculation scores ahead: a second ask while the evaluation is in flight
    # waits for it instead of running the program again (which could also give it a second, different score).
    services = make_services([GOOD_SUM])
    calls: list[str] = []

    class WaitingExecutor:
        name, workers = "test", 2

        def evaluate(self, task: Any, program: str, split: str, **kwargs: Any) -> Evaluation:
            calls.append(program)
            deadline = time.monotonic() + 10
            while services.counters["evaluations_cached"] < 1 and time.monotonic() < deadline:
                time.sleep(0.005)  # until the second ask has arrived, while this one is still running
            return Evaluation(task.name, split, 0.25 * len(calls), 0.0)

        def close(self) -> None:
            pass

    services.executor = WaitingExecutor()
    task = SumTask()
    got: list[float] = []
    threads = [threading.Thread(target=lambda: got.append(services.evaluate(task, BAD_SUM, "val").score))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [BAD_SUM] and got == [0.25, 0.25]
    assert services.evaluate(task, BAD_SUM, "val").score == 0.25
    assert services.counters == {"evaluations": 1, "evaluations_cached": 2}


def test_an_evaluation_that_raised_is_tried_again_on_the_next_ask() -> None:
    services = make_services([GOOD_SUM])
    outcomes: list[Any] = [ScorerError("the scorer broke"), Evaluation("sum", "val", 0.5, 0.0)]

    class FlakyExecutor:
        name, workers = "test", 1

        def evaluate(self, task: Any, program: str, split: str, **kwargs: Any) -> Evaluation:
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        def close(self) -> None:
            pass

    services.executor = FlakyExecutor()
    with pytest.raises(ScorerError):
        services.evaluate(SumTask(), BAD_SUM, "val")
    assert services.evaluate(SumTask(), BAD_SUM, "val").score == 0.5


class RecordingLM:
    """Stands in for the run's LanguageModel in `_serve`: records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []
        self.times_used = 0

    def prompt(self, expertise: Any, message: Any, n_responses: Any, temperature: Any) -> list[str]:
        self.asked.append(("prompt", expertise, message, n_responses, temperature))
        self.times_used += 1
        return ["reply"]

    def batch_prompt(self, expertise: Any, messages: Any, temperature: Any) -> list[str]:
        self.asked.append(("batch_prompt", expertise, messages, temperature))
        self.times_used += 1
        return ["reply"] * len(messages)


def serve(message: dict[str, Any], lm: RecordingLM | None = None) -> dict[str, Any]:
    from selftaught.broker import _serve

    services = make_services([GOOD_SUM])
    utility = TaskUtility(services, SumTask(), "val", 5)
    return _serve(message, utility, lm or RecordingLM())  # type: ignore[arg-type]


def test_an_omitted_n_or_temperature_is_the_papers_default() -> None:
    lm = RecordingLM()
    assert serve({"op": "call", "service": "lm.prompt", "args": {"expertise": "e", "message": "m"}}, lm)["ok"]
    assert serve({"op": "call", "service": "lm.batch_prompt", "args": {"expertise": "e", "messages": ["a", "b"]}},
                 lm)["value"] == ["reply", "reply"]
    assert lm.asked == [("prompt", "e", "m", 1, 0.7), ("batch_prompt", "e", ["a", "b"], 0.7)]


@pytest.mark.parametrize("message, said", [
    ({"op": "call", "service": "lm.delete_budget", "args": {}}, "unknown service"),
    ({"op": "call", "service": None, "args": {}}, "unknown service"),
    ({"op": "call", "service": "utility", "args": [1, 2]}, "malformed call"),
    ({"op": "call", "service": "lm.prompt", "args": "text"}, "malformed call"),
])
def test_a_malformed_or_unknown_call_is_the_improvers_error_not_the_hosts(message: dict[str, Any], said: str) -> None:
    lm = RecordingLM()
    reply = serve(message, lm)
    assert reply["ok"] is False and reply["error_kind"] == "invalid" and said in reply["error"]
    assert lm.asked == []  # nothing was asked of the model
