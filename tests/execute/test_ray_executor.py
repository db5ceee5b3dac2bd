"""--executor ray on a real local Ray instance: the same scores, improvers and errors as the local executor."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from selftaught.broker import Services
from selftaught.cli import main
from selftaught.config import Config
from selftaught.errors import ScorerError, TaskError, UserError
from selftaught.evaluate import Evaluation
from selftaught.execute import LocalExecutor, make_executor
from selftaught.execute._ray import RayExecutor
from selftaught.execute._taskref import task_ref
from selftaught.improver import seed_improver
from selftaught.lm import ScriptedBackend, parse_backend
from selftaught.sandbox import Limits, select_sandbox
from selftaught.stop import self_improve
from selftaught.tasks import get_task
from support import ADDER_TASK_FILE, GOOD_SUM, TEST_SECRET, SumTask

ROOT = Path(__file__).resolve().parents[2]

TASK_FILE = ADDER_TASK_FILE

# maxcut: 50 val instances of 50..200 nodes, 0.1 s of CPU each (programs far from the limit, or far over it)
MAXCUT_PROGRAMS = {
    "random_sides": ("import numpy as np\ndef algorithm(adjacency):\n"
                     "    return np.random.randint(0, 2, len(adjacency))\n"),
    "bad_output": "def algorithm(adjacency):\n    return [0, 1]\n",
    "raises": "def algorithm(adjacency):\n    raise ValueError('no')\n",
    "syntax": "def algorithm(adjacency)\n    return 1\n",
    "times_out_on_big_graphs": (
        "import numpy as np\n"
        "def algorithm(adjacency):\n"
        "    while adjacency.shape[0] > 185:\n        pass\n"
        "    return np.random.randint(0, 2, adjacency.shape[0])\n"
    ),
}


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[None]:
    """One local Ray instance for the module; its workers import this checkout (and the tests' support module)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=True,
                 logging_level=logging.ERROR)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    yield
    ray.shutdown()


def summary(evaluation: Evaluation) -> tuple[Any, ...]:
    return (evaluation.task, evaluation.split, evaluation.score, evaluation.failure, evaluation.failures,
            evaluation.n_instances, evaluation.flags)


def local_executor(config: Config) -> LocalExecutor:
    return LocalExecutor(select_sandbox(config.sandbox, Limits(memory_mb=config.memory_mb)).sandbox, 2)


def test_a_built_in_travels_by_name_a_task_file_as_its_bytes_and_any_other_task_by_value(tmp_path: Path) -> None:
    maxcut = get_task("maxcut")
    maxcut.instances("val", TEST_SECRET)  # its cached instances stay here
    assert task_ref(maxcut).name == "maxcut" and task_ref(maxcut).value is None and task_ref(maxcut).source is None
    changed = get_task("maxcut")
    changed.time_limit = 5.0
    assert task_ref(changed).value is not None  # a built-in with changed settings travels by value
    path = tmp_path / "adder.py"
    path.write_text(TASK_FILE)
    source = task_ref(get_task(str(path))).source
    assert source is not None and source.data == path.read_bytes()
    shipped = task_ref(SumTask()).value
    assert isinstance(shipped, SumTask) and "_instance_cache" not in vars(shipped)


def test_scores_on_ray_equal_the_local_executors_for_good_failing_and_timing_out_programs() -> None:
    config = Config(executor="ray")
    task = get_task("maxcut")
    ray_executor, local = RayExecutor(config), local_executor(config)
    try:
        assert ray_executor.workers == 2
        for label, program in MAXCUT_PROGRAMS.items():
            on_ray = ray_executor.evaluate(task, program, "val", seed=7, secret=TEST_SECRET)
            here = local.evaluate(task, program, "val", seed=7, secret=TEST_SECRET)
            assert summary(on_ray) == summary(here), label
        assert summary(on_ray)[4].get("timeout", 0) > 0 and summary(on_ray)[2] > 0.2  # some time out, not all
    finally:
        ray_executor.close()
    assert ray.is_initialized()  # the module's connection was used, not closed


def test_a_users_task_file_is_shipped_as_its_source_and_its_scorer_bug_stays_a_scorer_error(tmp_path: Path) -> None:
    path = tmp_path / "adder.py"
    path.write_text(TASK_FILE)
    task = get_task(str(path))
    broken = tmp_path / "broken_adder.py"
    broken.write_text(TASK_FILE.replace("else 0.0", "else 1 / 0"))
    broken_task = get_task(str(broken))
    path.unlink()
    broken.unlink()  # the node runs the bytes it was sent, not a file
    executor = RayExecutor(Config(executor="ray"))
    try:
        good = executor.evaluate(task, "def algorithm(x):\n    return x + 1\n", "test", seed=0, secret=TEST_SECRET)
        assert (good.task, good.score, good.n_instances) == ("adder", 1.0, 5)
        with pytest.raises(ScorerError) as caught:
            executor.evaluate(broken_task, "def algorithm(x):\n    return -1\n", "val", seed=0, secret=TEST_SECRET)
    finally:
        executor.close()
    assert type(caught.value) is ScorerError
    message = str(caught.value)
    assert "\n" not in message and "broken_adder.py" in message and "ZeroDivisionError" in message


def stop_history(executor: str) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """One STOP iteration on the sum task: a scripted LM offers a better improver, then solutions that are right
    with probability k/7 (drawn from the worker's seeded random state: the seeds must agree too), then a right one."""
    better = (ROOT / "tests" / "data" / "better_improver.py").read_text()
    entries: list[Any] = [{"match": "def improve_algorithm", "response": f"```python\n{better}\n```"}]
    for k in range(1, 7):
        entries.append({"match": "def algorithm(a)", "response": "```python\nimport random\ndef algorithm(a):\n"
                        f"    return int(sum(int(x) for x in a)) if random.random() < {k / 7} else 0\n```"})
    entries.append({"match": "def algorithm(a)", "response": GOOD_SUM})
    config = Config(executor=executor, downstream_runs=2, max_responses_per_call=3, lm_budget=2, utility_budget=6,
                    meta_utility_budget=2, workers=2)
    services = Services(config, ScriptedBackend(entries), secret=TEST_SECRET)
    try:
        history = self_improve(services, SumTask(), seed_improver(), 1)
    finally:
        services.close()
    return ([(it.improver, it.meta_utility_val, it.meta_utility_test, it.kept_previous, it.selection_score)
             for it in history], dict(services.counters))


def test_a_stop_iteration_through_ray_gives_the_local_improvers_and_scores() -> None:
    on_ray, counted = stop_history("ray")
    assert len(on_ray) == 2 and counted["evaluations"] >= 5
    assert on_ray[1][0] != on_ray[0][0] and 0 < on_ray[0][1] <= on_ray[1][1]  # a new improver, no worse
    assert (on_ray, counted) == stop_history("local")


def test_the_cli_runs_with_executor_ray_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "--executor", "ray", "--iterations", "1", "--downstream-runs", "1", "--max-responses",
                   "2", "--lm-budget", "1", "--utility-budget", "3", "--task", "parity_noiseless",
                   "--runs-dir", str(tmp_path), "--json"])
    out = capsys.readouterr().out
    assert status == 0
    data = json.loads(out)
    assert len(data["iterations"]) == 2
    manifest = json.loads((Path(data["run_dir"]) / "manifest.json").read_text())
    assert manifest["config"]["executor"] == "ray"
    for it in data["iterations"]:
        assert 0.0 <= it["meta_utility_val"] <= 1.0


def test_a_broken_task_file_run_on_ray_stops_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken_adder.py"
    broken.write_text(TASK_FILE.replace("int(rng.integers(0, 100))", "int(rng.integers(0, 100)) // 0"))
    status = main(["run", "--executor", "ray", "--task", str(broken), "--iterations", "0", "--downstream-runs", "1",
                   "--max-responses", "1", "--lm-budget", "1", "--utility-budget", "1", "--runs-dir",
                   str(tmp_path / "runs"), "--json"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("note:", "***"))]
    assert status == 2 and "Traceback" not in err
    assert lines == ["selftaught: error: task broken_adder (broken_adder.py): make_instance raised ZeroDivisionError: "
                     "integer division or modulo by zero"], err


def test_a_bad_ray_address_is_one_line_in_seconds(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("RAY_ADDRESS", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "selftaught", "run", "--executor", "ray", "--ray-address", "127.0.0.1:1",
         "--iterations", "0", "--runs-dir", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    took = time.monotonic() - started
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 3 and len(lines) == 1, done.stderr
    assert lines[0].startswith("selftaught: failure: cannot reach the Ray cluster at 127.0.0.1:1")
    assert took < 30


def test_without_ray_installed_the_executor_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "selftaught.execute._ray")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    config = Config(executor="ray")
    with pytest.raises(UserError, match=r"^--executor ray needs Ray: pip install 'selftaught\[ray\]'$"):
        make_executor(config, local_executor(config).sandbox)


def test_a_program_that_never_loads_is_scored_the_same_through_services(tmp_path: Path) -> None:
    task = SumTask()
    config = Config(executor="ray", workers=2)
    services = Services(config, parse_backend("mutate", config), secret=TEST_SECRET)
    try:
        assert isinstance(services.executor, RayExecutor)
        assert services.evaluate(task, None, "val").failure == "no_code"
        good = services.evaluate(task, textwrap.dedent("""
            def algorithm(a):
                return int(sum(int(x) for x in a))
        """), "val")
        assert good.score == 1.0 and services.counters["evaluations"] == 2
    finally:
        services.close()


def test_a_nodes_sandbox_is_selected_there_its_warning_said_once_its_refusal_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--sandbox process`: where it can run, its reduced-isolation warning once per node; where it cannot (root's
    interpreter out of the sandbox user's reach), the node's one-line refusal, naming the node."""
    try:
        select_sandbox("process", Limits())
        refusal = None
    except UserError as exc:
        refusal = str(exc)
    executor = RayExecutor(Config(executor="ray", sandbox="process"))
    try:
        if refusal is not None:
            with pytest.raises(UserError) as caught:
                executor.evaluate(SumTask(), SumTask.seed_solution, "val", seed=1, secret=TEST_SECRET)
            assert re.fullmatch(r"on Ray node \S+: " + re.escape(refusal), str(caught.value))
            return
        for seed in (1, 2):
            found = executor.evaluate(SumTask(), SumTask.seed_solution, "val", seed=seed, secret=TEST_SECRET)
            assert found.failure is None and found.n_instances == 4
    finally:
        executor.close()
    err = capsys.readouterr().err
    assert err.count("*** on Ray node") == 1 and "REDUCED ISOLATION" in err and "Ray's ports" in err


def test_a_task_made_in_python_that_cannot_be_pickled_is_a_one_line_task_error() -> None:
    task = SumTask()
    task.guard = threading.Lock()  # type: ignore[attr-defined]
    executor = RayExecutor(Config(executor="ray"))
    try:
        with pytest.raises(TaskError, match=r"^task sum cannot be sent to Ray nodes: [^\n]+$"):
            executor.evaluate(task, SumTask.seed_solution, "val", seed=0, secret=TEST_SECRET)
    finally:
        executor.close()
