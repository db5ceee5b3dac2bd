"""Who is to blame: malformed outputs are the candidate's `bad_output`, forged messages its `protocol`
failure, and a scorer or generator that breaks is the task's ScorerError, never a candidate's score."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from selftaught.errors import ScorerError
from selftaught.evaluate import evaluate
from selftaught.tasks import BadOutput, Instance, get_task
from support import TEST_SECRET, SumTask

CORRECT = "def algorithm(a):\n    return int(a.sum())\n"
FORGE = (
    "import os\n"
    "def forge(line):\n"
    "    for fd in range(3, 40):\n"
    "        try:\n"
    "            os.write(fd, line.encode())\n"
    "        except OSError:\n"
    "            pass\n"
)


class BuggyScorerTask(SumTask):
    """A task whose scorer has a bug (it indexes past the end of its labels)."""

    name = "buggy_scorer"

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        return [1.0][5]


class NaNScorerTask(SumTask):
    name = "nan_scorer"

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        return float("nan")


class PickyTask(SumTask):
    """Scores ints; calls anything else malformed, and its lax scorer would have given such outputs 1."""

    name = "picky"

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        if type(output) is not int:
            raise BadOutput(f"expected an int, got {type(output).__name__}")
        return 1.0 if output == instance.hidden else 0.0

    def lax_score_output(self, instance: Instance, output: Any) -> float | None:
        return 1.0


class GenerousTask(SumTask):
    """A scorer that can exceed its maximum (the paper's broadcasting hole, in small)."""

    name = "generous"

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        return 2.0 if output == instance.hidden else 0.0


class BrokenGeneratorTask(SumTask):
    name = "broken_generator"
    split_sizes: Mapping[str, int] = {"val": 3, "test": 3}

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        if index == 2:
            raise KeyError("instance 2")
        return super().make_instance(rng, index)


def test_a_scorer_that_raises_is_the_tasks_fault_not_the_candidates() -> None:
    with pytest.raises(ScorerError, match=r"^task buggy_scorer \(test_evaluate_verdicts\.py\): its scorer raised "
                                          r"IndexError: list index out of range$"):
        evaluate(BuggyScorerTask(), CORRECT, "val", secret=TEST_SECRET)
    assert evaluate(SumTask(), CORRECT, "val", secret=TEST_SECRET).score == 1.0  # the same program, a sound scorer


def test_a_scorer_that_returns_nan_is_the_tasks_fault() -> None:
    with pytest.raises(ScorerError, match="not a finite number"):
        evaluate(NaNScorerTask(), CORRECT, "val", secret=TEST_SECRET)


def test_a_generator_that_raises_is_the_tasks_fault_before_any_program_runs() -> None:
    with pytest.raises(ScorerError, match=r"task broken_generator .*make_instance raised KeyError: 'instance 2'"):
        evaluate(BrokenGeneratorTask(), CORRECT, "val", secret=TEST_SECRET)


def test_malformed_outputs_are_counted_as_bad_output_with_the_lax_flag_beside() -> None:
    result = evaluate(PickyTask(), "def algorithm(a):\n    return str(a.sum())\n", "val", secret=TEST_SECRET)
    assert result.score == 0.0 and result.failures == {"bad_output": 4}
    assert result.detail == "expected an int, got str"
    assert result.flags == {"lax_would_accept": 4}
    good = evaluate(PickyTask(), CORRECT, "val", secret=TEST_SECRET)
    assert good.score == 1.0 and good.failures == {} and good.flags == {}


def test_the_papers_broadcasting_hack_is_bad_output_flagged_as_what_the_lax_scorer_takes() -> None:
    task = get_task("lpn")
    hack = "import numpy as np\ndef algorithm(x, y, t):\n    return np.zeros((20, 1))\n"
    result = evaluate(task, hack, "val", secret=TEST_SECRET)
    assert result.score == 0.0 and result.failures == {"bad_output": 20}
    assert "got a numpy float64 array of shape (20, 1)" in result.detail
    assert result.flags == {"lax_would_accept": 20}


def test_scores_above_the_maximum_are_clipped_and_flagged() -> None:
    result = evaluate(GenerousTask(), CORRECT, "val", secret=TEST_SECRET)
    assert result.score == 1.0 and result.flags == {"above_max": 4}


@pytest.mark.parametrize(
    ("forged", "when"),
    [
        ('{"op": "result", "ok": false, "kind": "made_up", "error": "x"}', "answering"),
        ('{"op": "result", "ok": "yes", "output": 1}', "answering"),
        ('{"op": "result", "ok": true, "output": {"__ndarray__": "int64", "shape": [1], "data": [1e400]}}',
         "answering"),
        ('{"op": "loaded", "ok": false, "kind": "scorer_error", "error": "blame the task"}', "loading"),
        ('{"op": "loaded", "ok": 1}', "loading"),
        ('{"op": "surprise"}', "loading"),
    ],
)
def test_forged_messages_are_protocol_failures_counted_as_tampering(forged: str, when: str) -> None:
    if when == "loading":
        program = FORGE + f"forge({forged!r} + '\\n')\n" + CORRECT
    else:
        program = FORGE + f"def algorithm(a):\n    forge({forged!r} + '\\n')\n    return int(a.sum())\n"
    result = evaluate(SumTask(), program, "val", secret=TEST_SECRET)
    kinds = set(result.failures) | ({result.failure} if result.failure else set())
    assert kinds == {"protocol"}, result
    assert result.score == 0.0
    assert result.audit["counts"]["protocol_violation"] >= 1
    assert "made_up" not in result.failures and "scorer_error" not in kinds


def test_a_program_that_fails_to_load_reports_why(capsys: pytest.CaptureFixture[str]) -> None:
    result = evaluate(SumTask(), "import nonexistent_module_q\n" + CORRECT, "val", secret=TEST_SECRET)
    assert result.failure == "exception" and "ModuleNotFoundError" in result.detail
    assert result.n_instances == 0 and result.load_time is None


def test_an_exception_whose_message_is_not_unicode_is_still_an_exception() -> None:
    result = evaluate(SumTask(), "def algorithm(a):\n    raise ValueError('bad \\ud800 text')\n", "val",
                      secret=TEST_SECRET)
    assert result.failures == {"exception": 4} and "ValueError: bad ? text" in result.detail
