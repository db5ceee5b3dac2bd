"""The paper's other formulations: the maximizer starts from no solution, I^k applies an improver k times."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from selftaught.broker import Services, TaskUtility, run_improver
from selftaught.config import Config
from selftaught.improver import seed_improver
from selftaught.lm import CompletionRequest, OfflineBackend
from selftaught.lm.session import LanguageModel
from selftaught.stop.meta_utility import MetaUtility, _index_seed
from selftaught.store import program_hash
from support import GOOD_SUM, TEST_SECRET, NumberedBackend, SumTask

TINY = Config(downstream_runs=1, max_responses_per_call=2, lm_budget=2, utility_budget=3, workers=2)

#: Says what it started from and what its utility describes.
REPORTER = '''
def improve_algorithm(initial_solution, utility, language_model):
    return ("# initial: " + repr(initial_solution) + "\\n# sees: " + repr(utility.str[:30])
            + "\\ndef algorithm(a):\\n    return 0\\n")
'''

#: Appends one marker line to the solution it is given: the LM sample it drew, the LM calls its budget let it make,
#: and its utility's budget and uses when it started.
MARKER = '''
def improve_algorithm(initial_solution, utility, language_model):
    uses, ok, sample = utility.uses, 0, ""
    for _ in range(language_model.budget + 2):
        try:
            reply = language_model.prompt("marker", "mark the solution", n_responses=1)[0]
        except Exception:
            break
        ok += 1
        sample = sample or [line for line in reply.splitlines() if line.startswith("# sample")][0]
    utility(initial_solution)
    return initial_solution + f"# pass: lm_ok={ok} utility_budget={utility.budget} uses_at_start={uses} {sample}\\n"
'''

#: Fails when given a solution a pass already marked: a second pass of it fails.
ONCE = '''
def improve_algorithm(initial_solution, utility, language_model):
    if "# once" in initial_solution:
        raise RuntimeError("marked already")
    return initial_solution + "# once\\n"
'''

PASS = re.compile(r"# pass: lm_ok=(\d+) utility_budget=(\d+) uses_at_start=(\d+) (# sample \S+)")


@contextmanager
def services_of(config: Config, backend: OfflineBackend | None = None) -> Iterator[Services]:
    services = Services(config, backend or NumberedBackend(), secret=TEST_SECRET)
    try:
        yield services
    finally:
        services.close()


def one_run(improver: str, config: Config, purpose: str = "transfer", backend: OfflineBackend | None = None) -> Any:
    with services_of(config, backend) as services:
        task = SumTask()
        return MetaUtility(services, [task]).downstream(improver, task, 0, purpose=purpose, with_test=False)


def test_a_maximizer_improver_starts_from_the_empty_solution_and_the_task_description() -> None:
    run = one_run(REPORTER, dataclasses.replace(TINY, maximizer=True))
    assert run.failure is None and run.solution.startswith("# initial: ''\n")
    assert repr(SumTask.description[:30]) in run.solution
    usual = one_run(REPORTER, TINY)
    assert usual.solution.startswith(f"# initial: {SumTask.seed_solution!r}")


class _Recording(OfflineBackend):
    """Answers the sum task's solution, and keeps every message it was sent."""

    name = "recording"

    def __init__(self) -> None:
        self.messages: list[str] = []

    def complete(self, request: CompletionRequest) -> list[str]:
        self.messages.append(request.message)
        return [GOOD_SUM] * request.n


def test_the_seed_improvers_maximizer_prompt_shows_an_empty_code_block() -> None:
    backend = _Recording()
    run = one_run(seed_improver(), dataclasses.replace(TINY, maximizer=True), purpose="measure", backend=backend)
    assert run.val == 1.0 and backend.messages
    for message in backend.messages:
        assert message.startswith("Improve the following solution:\n```python\n\n```")
        assert SumTask.description in message and "def algorithm" not in message.split("```")[1]


def test_i_k_passes_start_from_the_previous_pass_with_fresh_samples_and_full_budgets() -> None:
    config = dataclasses.replace(TINY, iterate=2)
    run = one_run(MARKER, config)
    passes = PASS.findall(run.solution or "")
    assert run.failure is None and run.solution.startswith(SumTask.seed_solution) and len(passes) == 2
    # each pass made its full lm_budget of calls (a shared budget would leave pass 2 none) and had a fresh utility
    assert [p[:3] for p in passes] == [("2", "3", "0")] * 2
    assert passes[0][3] != passes[1][3]  # its own samples
    assert (run.lm_calls, run.utility_calls) == (4, 2)
    once = one_run(MARKER, TINY)  # k = 1: pass 1 of I^2 drew the very samples of the single run
    assert PASS.findall(once.solution) == passes[:1]


def test_a_failed_pass_keeps_the_solution_before_it() -> None:
    run = one_run(ONCE, dataclasses.replace(TINY, iterate=3))
    assert run.failure is None and run.solution == SumTask.seed_solution + "# once\n"
    notes = [line for line in run.detail.splitlines() if line.startswith("pass ")]
    assert [line.split(":")[0] for line in notes] == ["pass 2 failed (exception)", "pass 3 failed (exception)"]
    assert "marked already" in run.detail


def test_iterate_applies_at_test_time_only() -> None:
    config = dataclasses.replace(TINY, iterate=2)
    with services_of(config) as services:
        task = SumTask()
        meta = MetaUtility(services, [task])
        found = {purpose: PASS.findall(meta.downstream(MARKER, task, 0, purpose=purpose, with_test=False).solution)
                 for purpose in ("select", "measure", "compare")}
    assert [len(found[purpose]) for purpose in ("select", "measure", "compare")] == [1, 1, 2]


def test_one_pass_is_the_downstream_run_of_before() -> None:
    """k = 1 against the downstream run as it was made before the formulations: one run_improver from the seed
    solution on the run's own stream, with the same seed and utility."""
    for purpose in ("transfer", "measure"):
        with services_of(TINY) as services:
            task = SumTask()
            stream = f"{purpose}/{program_hash(seed_improver())}/{task.name}/0"
            utility = TaskUtility(services, task, "val", TINY.utility_budget, level="task",
                                  improver=program_hash(seed_improver()), task_name=task.name, run=0, purpose=purpose)
            lm: LanguageModel = services.language_model(stream, level="task")
            before = run_improver(services, seed_improver(), task.seed_solution, utility, lm, seed=_index_seed(stream),
                                  task=task.name)
            before_val = services.evaluate(task, before.solution, "val").score
        now = one_run(seed_improver(), TINY, purpose=purpose)
        assert before.solution is not None and now.solution == before.solution
        assert (now.val, now.lm_calls, now.utility_calls, now.failure) == (before_val, before.lm_calls,
                                                                          before.utility_calls, None)
