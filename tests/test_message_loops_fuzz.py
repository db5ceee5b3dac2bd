"""The orchestrator's message loops (scoring a program, serving an improver) against anything a worker may say.

A scripted stand-in replaces the worker, so Hypothesis can try thousands of conversations quickly: random and
adversarial messages (wrong ops, wrong types, unknown failure kinds, malformed arrays, forged results), broken
channels, timeouts and CPU time burnt (within or past a limit) at any point. Whatever comes, the loop returns a
result with a known failure kind; it never raises into the orchestrator (a worker that cannot even start is the one
infrastructure fault).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripted_worker import Burn, ScriptedSandbox
from selftaught.broker import IMPROVER_FAILURES, Services, run_improver
from selftaught.config import Config
from selftaught.errors import WorkerError
from selftaught.evaluate import CALL_FAILURES, LOAD_FAILURES, evaluate
from selftaught.lm import ScriptedBackend
from selftaught.sandbox import ChannelClosed, ChannelTimeout, ProtocolError, SandboxChoice
from support import TEST_SECRET, SumTask

EVALUATION_KINDS = LOAD_FAILURES | CALL_FAILURES | {"crash", "protocol", "deadline", "timeout"}
IMPROVER_KINDS = IMPROVER_FAILURES | {"crash", "protocol", "timeout"}


TEXT = st.text(max_size=12)
KINDS = st.sampled_from(sorted(EVALUATION_KINDS | IMPROVER_KINDS | {"scorer_error", "made_up", ""})) | TEXT
ARRAYS = st.fixed_dictionaries({"__ndarray__": st.sampled_from(["int64", "float64", "bool", "object", 3]),
                                "shape": st.lists(st.integers(-2, 5), max_size=3) | st.none(),
                                "data": st.lists(st.integers() | st.floats() | TEXT | st.none(), max_size=6)})
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT | ARRAYS,
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=3),
                      max_leaves=8)
OPS = st.sampled_from(["loading", "loaded", "ready", "result", "done", "call", "reply", "surprise"])
MESSAGES = st.fixed_dictionaries(
    {"op": OPS | TEXT},
    optional={"ok": st.sampled_from([True, False, 1, 0, "yes", None]), "kind": KINDS, "error": TEXT | VALUES,
              "output": VALUES, "solution": TEXT | VALUES, "service": st.sampled_from(["utility", "lm.prompt",
              "lm.batch_prompt", "nope"]) | TEXT, "args": VALUES, "audit": VALUES},
)
FAULTS = st.sampled_from([ChannelTimeout(), ChannelClosed("gone"), ProtocolError("malformed line"), Burn(0.3),
                          Burn(10.0)])
ITEMS = st.lists(MESSAGES | FAULTS, max_size=8)


def honest_start(script: list[Any]) -> list[Any]:
    return [{"op": "loading"}, *script]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts=st.lists(ITEMS.map(honest_start), min_size=1, max_size=6))
def test_scoring_ends_in_an_evaluation_whatever_the_worker_says(scripts: list[list[Any]]) -> None:
    task = SumTask()
    result = evaluate(task, "def algorithm(a):\n    return 0\n", "val", sandbox=ScriptedSandbox(scripts),
                      secret=TEST_SECRET)
    assert task.failure_score <= result.score <= task.max_score
    kinds = set(result.failures) | ({result.failure} if result.failure else set())
    assert kinds <= EVALUATION_KINDS, kinds
    assert result.failure is not None or result.n_instances == len(task.instances("val", TEST_SECRET))


@settings(max_examples=100, deadline=None)
@given(first=MESSAGES.filter(lambda m: m["op"] != "loading") | FAULTS)
def test_a_worker_that_does_not_start_is_an_infrastructure_fault_or_a_protocol_failure(first: Any) -> None:
    task = SumTask()
    try:
        result = evaluate(task, "def algorithm(a):\n    return 0\n", "val", sandbox=ScriptedSandbox([[first]]),
                          secret=TEST_SECRET)
    except WorkerError as exc:
        assert isinstance(first, (ChannelTimeout, ChannelClosed, Burn)) and "failed to start" in str(exc)
    else:
        assert isinstance(first, dict) and result.failure == "protocol"


def improver_services(scripts: list[list[Any]]) -> Services:
    config = Config(lm_budget=3, improver_timeout=30)
    choice = SandboxChoice(ScriptedSandbox(scripts))  # type: ignore[arg-type]
    return Services(config, ScriptedBackend(["```python\ndef algorithm(a):\n    return 1\n```"]), sandbox=choice,
                    secret=TEST_SECRET)


class CountingUtility:
    """A utility that scores nothing for real (the loop, not scoring, is under test)."""

    description = "u"
    budget = 5

    def __init__(self) -> None:
        self.uses = 0

    def __call__(self, solution: Any, args: list[Any], kwargs: dict[str, Any]) -> float:
        self.uses += 1
        return 0.5 if self.uses <= self.budget else 0.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=ITEMS)
def test_serving_an_improver_ends_in_a_result_whatever_the_worker_says(script: list[Any]) -> None:
    services = improver_services([script])
    utility = CountingUtility()
    lm = services.language_model("fuzz", level="task")
    result = run_improver(services, "def improve_algorithm(s, u, lm):\n    return s\n", "seed", utility, lm)
    if result.failure is None:
        assert isinstance(result.solution, str)
    else:
        assert result.solution is None and result.failure in IMPROVER_KINDS, result
    assert lm.times_used <= lm.budget and utility.uses <= len(script)
