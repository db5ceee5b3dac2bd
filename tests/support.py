"""Test support: a tiny task whose answers are known, an echo task, and services with a fake LM."""


from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from selftaught.broker import Services
from selftaught.config import Config
from selftaught.lm import CompletionRequest, OfflineBackend, ScriptedBackend
from selftaught.store import RunStore
from selftaught.tasks import Instance, SplitSecret, Task

#: The split secret tests derive instances from (conftest also puts it in SELFTAUGHT_SPLIT_SECRET for the CLI).
TEST_SECRET_TEXT = "selftaught-test-secret"
TEST_SECRET = SplitSecret.from_text(TEST_SECRET_TEXT, "test")


class SumTask(Task):
    """Return the sum of five small ints as a Python int (a task whose correct answer is known)."""

    name = "sum"
    description = "def utility(algorithm_str):\n    '''1 point per instance where algorithm(a) == sum(a)'''\n"
    seed_solution = "def algorithm(a):\n    return 0\n"
    split_sizes: Mapping[str, int] = {"val": 4, "test": 6}
    time_limit = 0.5

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        a = rng.integers(0, 10, size=5)
        return Instance((a,), int(a.sum()))

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        return 1.0 if type(output) is int and output == instance.hidden else 0.0


class EchoTask(Task):
    """Records whatever the candidate returns (to inspect what a worker can see)."""

    name = "echo"
    description = "echo"
    seed_solution = "def algorithm(x):\n    return x\n"
    split_sizes: Mapping[str, int] = {"val": 1, "test": 1}
    time_limit = 5.0

    def __init__(self) -> None:
        self.outputs: list[Any] = []

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        return Instance((index,), None)

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        self.outputs.append(output)
        return 1.0


GOOD_SUM = "```python\ndef algorithm(a):\n    return int(sum(int(x) for x in a))\n```"
BAD_SUM = "```python\ndef algorithm(a):\n    return 1\n```"


def make_services(entries: list[Any], tmp_path: Path | None = None, **config: Any) -> Services:
    """Services with a scripted backend (and a run store under tmp_path when given)."""
    cfg = Config(**{"downstream_runs": 2, "workers": 2, **config})
    store = RunStore(tmp_path / "run") if tmp_path is not None else None
    return Services(cfg, ScriptedBackend(entries), store=store, secret=TEST_SECRET)


DATA = Path(__file__).resolve().parent / "data"


class NumberedBackend(OfflineBackend):
    """Every reply names the draw it is (the stream's seed and the sample index), so reuse shows."""

    name = "numbered"

    def complete(self, request: CompletionRequest) -> list[str]:
        if "def improve_algorithm" in request.message:  # asked to improve an improver
            better = (DATA / "better_improver.py").read_text()
            return [f"```python\n{better}\n```"] * request.n
        return [f"```python\n# sample {request.seed}:{k}\ndef algorithm(x, y, t):\n    return [{k % 2}] * 20\n```"
                for k in range(request.first_sample, request.first_sample + request.n)]


#: A user task file: algorithm(x) must return x + 1 (for tests of task files, locally and on Ray nodes).
ADDER_TASK_FILE = """
DESCRIPTION = "def utility(s): ... algorithm(x) returns x + 1"
SEED_SOLUTION = "def algorithm(x):\\n    return x\\n"
SPLITS = {"val": 3, "test": 5}
TIME_LIMIT = 0.2


def make_instance(rng, index):
    x = int(rng.integers(0, 100))
    return (x,), x + 1


def score(args, hidden, output, elapsed):
    return 1.0 if output == hidden else 0.0
"""


def sigint_as_default() -> None:
    """`preexec_fn` for a child a test sends SIGINT (Ctrl-C): a shell starts background jobs with SIGINT ignored,
    and a child inherits that (Python then installs no KeyboardInterrupt handler, and SIGINT does nothing), so a
    test run from such a job (a CI step, `nohup ... &`) would wait for a child that never stops."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
