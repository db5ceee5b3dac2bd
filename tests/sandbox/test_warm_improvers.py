"""Improvers in warm workers: forked from a pool of their own, a clean run's zygote serves the next improver, and
nothing a hostile improver leaves reaches the next; one that may have been altered costs its zygote its sandbox."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox_support import root_bwrap, wait_until
from selftaught.broker import ImproverResult, Services, TaskUtility, run_improver
from selftaught.config import Config
from selftaught.lm import ScriptedBackend
from selftaught.sandbox import BwrapSandbox, ForkedWorker, SandboxChoice, WarmPool
from support import GOOD_SUM, TEST_SECRET, SumTask
from test_broker_services import RecordingExecutor

LOOK = '''
import json, os
import numpy

def improve_algorithm(initial_solution, utility, language_model):
    me, parent = os.getpid(), os.getppid()
    seen = {
        "foreign": sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me, parent)),
        "tmp": sorted(os.listdir("/tmp")), "shm": sorted(os.listdir("/dev/shm")),
        "sum": int(numpy.sum(numpy.arange(4))), "leaked": hasattr(numpy, "leaked"),
        "env": "LEAKED" in os.environ, "cwd": os.getcwd(), "umask": os.umask(0o022),
    }
    return "# " + json.dumps(seen, sort_keys=True) + "\\n" + initial_solution
'''

BENIGN = "def improve_algorithm(initial_solution, utility, language_model):\n    return initial_solution\n"

HOSTILE = '''
import os, time
import numpy

def improve_algorithm(initial_solution, utility, language_model):
    for path in ("/tmp/left", "/dev/shm/left"):
        with open(path, "w") as f:
            f.write("left behind")
    numpy.leaked = True
    numpy.sum = lambda *a, **k: 42
    os.environ["LEAKED"] = "1"
    os.umask(0o777)
    if os.fork() == 0:  # a daemon in a session of its own, waiting for the next improver
        os.setsid()
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        os._exit(0)
    os.wait()
    return initial_solution
'''

SPINS = "def improve_algorithm(initial_solution, utility, language_model):\n    while True:\n        pass\n"


@pytest.fixture(scope="module")
def bwrap() -> BwrapSandbox:
    return root_bwrap()


def services(sandbox: BwrapSandbox, **config: Any) -> Services:
    made = Services(Config(**{"improver_timeout": 20, **config}), ScriptedBackend([GOOD_SUM]),
                    sandbox=SandboxChoice(sandbox), secret=TEST_SECRET, executor=RecordingExecutor())
    return made


@pytest.fixture
def warm(bwrap: BwrapSandbox) -> Iterator[Services]:
    made = services(bwrap)
    yield made
    made.close()


def improve(services: Services, program: str) -> ImproverResult:
    utility = TaskUtility(services, SumTask(), "val", 2)
    return run_improver(services, program, SumTask.seed_solution, utility, services.language_model("s", level="task"))


def seen(result: ImproverResult) -> dict[str, Any]:
    assert result.failure is None and result.solution is not None, result
    observed: dict[str, Any] = json.loads(result.solution.splitlines()[0][2:])
    return observed


def idle_zygotes(services: Services) -> list[int]:
    assert isinstance(services.improvers, WarmPool)
    return services.improvers.idle()


def test_improvers_run_in_workers_forked_from_a_pool_of_their_own(warm: Services) -> None:
    worker = warm.launch_worker(0)
    try:
        assert isinstance(worker, ForkedWorker) and warm.improvers is not warm.executor
    finally:
        warm.release_worker(worker)


def test_a_clean_improver_run_returns_its_zygote_and_the_next_run_reuses_it(warm: Services) -> None:
    assert improve(warm, BENIGN).failure is None
    assert isinstance(warm.improvers, WarmPool)
    started, zygote = warm.improvers.started, idle_zygotes(warm)[-1]
    for _ in range(2):
        assert improve(warm, BENIGN).solution == SumTask.seed_solution
        assert idle_zygotes(warm)[-1] == zygote
    assert warm.improvers.started == started


def test_nothing_a_hostile_improver_leaves_reaches_the_next_one(bwrap: BwrapSandbox, warm: Services) -> None:
    # The control: what an improver sees after a benign one (warm), and in a fresh sandbox (warm workers off).
    improve(warm, BENIGN)
    after_benign = seen(improve(warm, LOOK))
    cold = services(bwrap, warm_workers=False)
    try:
        assert not isinstance(cold.improvers, WarmPool)
        fresh = seen(improve(cold, LOOK))
    finally:
        cold.close()
    assert improve(warm, HOSTILE).failure is None
    after_hostile = seen(improve(warm, LOOK))
    assert after_hostile == after_benign == fresh
    assert after_hostile["foreign"] == [] and after_hostile["sum"] == 6 and not after_hostile["leaked"]
    assert "left" not in after_hostile["tmp"] and "left" not in after_hostile["shm"]


def test_an_improver_over_its_time_costs_its_zygote_its_sandbox(bwrap: BwrapSandbox) -> None:
    made = services(bwrap, improver_timeout=1)
    try:
        improve(made, BENIGN)
        zygote = idle_zygotes(made)[-1]
        assert improve(made, SPINS).failure == "timeout"
        assert wait_until(lambda: zygote not in idle_zygotes(made), 5)
        assert improve(made, BENIGN).solution == SumTask.seed_solution  # the next one runs, in another zygote
    finally:
        made.close()


def test_closing_the_services_ends_the_improvers_zygotes(bwrap: BwrapSandbox) -> None:
    made = services(bwrap)
    improve(made, BENIGN)
    zygotes = idle_zygotes(made)
    made.close()
    assert zygotes and wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in zygotes), 5)
