"""Loading a user's task file: TASK or module-level names; every mistake is a one-line TaskError."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from selftaught.errors import ScorerError, TaskError
from selftaught.tasks import BadOutput, Task
from selftaught.tasks._user import load_task_file
from support import ADDER_TASK_FILE, TEST_SECRET

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mytask.py"

VALID = ADDER_TASK_FILE


def write(tmp_path: Path, text: str, name: str = "adder.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(TaskError) as caught:
        load_task_file(write(tmp_path, text)).instances("val", TEST_SECRET)
    message = str(caught.value)
    assert "\n" not in message and "adder.py" in message
    return message


def test_module_level_names_make_a_task(tmp_path: Path) -> None:
    task = load_task_file(write(tmp_path, VALID))
    assert task.name == "adder" and task.entrypoint == "algorithm" and task.time_limit == 0.2
    assert len(task.instances("val", TEST_SECRET)) == 3 and len(task.instances("test", TEST_SECRET)) == 5
    instance = task.instances("val", TEST_SECRET)[0]
    assert task.score_output(instance, instance.hidden, 0.0) == 1.0
    assert task.score_output(instance, instance.args[0], 0.0) == 0.0


def test_optional_names_override_the_defaults(tmp_path: Path) -> None:
    extra = (
        'NAME = "plus_one"\nENTRYPOINT = "solve"\nSEEDS = {"val": 7, "test": 8}\nFAILURE_SCORE = 0.01\nMAX_SCORE = 2\n'
    )
    task = load_task_file(write(tmp_path, VALID.replace("def algorithm(", "def solve(") + extra))
    assert (task.name, task.entrypoint, task.failure_score, task.max_score) == ("plus_one", "solve", 0.01, 2.0)
    assert dict(task.split_seeds) == {"val": 7, "test": 8}


def test_instances_are_deterministic_across_loads(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    first = [i.args for i in load_task_file(path).instances("test", TEST_SECRET)]
    assert first == [i.args for i in load_task_file(path).instances("test", TEST_SECRET)]


def test_a_task_instance_named_task_is_returned_as_is(tmp_path: Path) -> None:
    text = """
    from selftaught.tasks import Instance, Task

    class Echo(Task):
        name = "echo"
        def make_instance(self, rng, index):
            return Instance(args=(index,), hidden=index)
        def score_output(self, instance, output, elapsed):
            return float(output == instance.hidden)

    TASK = Echo()
    """
    task = load_task_file(write(tmp_path, text))
    assert isinstance(task, Task) and task.name == "echo"


@pytest.mark.parametrize(("attributes", "expected"), [
    ('seed_solution = "def algorithm(x)\\n"', "TASK.seed_solution is not valid Python (line 1 of it: expected ':')"),
    ('seed_solution = "def solve(x):\\n    return x\\n"', "TASK.seed_solution does not define algorithm()"),
    ('split_sizes = {"val": 3, "test": 10**6}', "TASK.split_sizes['test'] is 1000000; a split may have at most"),
])
def test_a_task_instance_is_checked_as_the_names_are(tmp_path: Path, attributes: str, expected: str) -> None:
    text = f"""
    from selftaught.tasks import Instance, Task

    class Echo(Task):
        name = "echo"
        {attributes}
        def make_instance(self, rng, index):
            return Instance(args=(index,), hidden=index)
        def score_output(self, instance, output, elapsed):
            return float(output == instance.hidden)

    TASK = Echo()
    """
    assert expected in error_for(tmp_path, text)


def test_a_task_class_instead_of_an_instance_is_explained(tmp_path: Path) -> None:
    text = """
    from selftaught.tasks import Task

    class Echo(Task):
        pass

    TASK = Echo
    """
    assert "TASK = Echo()" in error_for(tmp_path, text)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("DESCRIPTION = ", "UNUSED = "), "missing DESCRIPTION"),
        (("SEED_SOLUTION = ", "UNUSED = "), "missing SEED_SOLUTION"),
        (('SPLITS = {"val": 3, "test": 5}', 'SPLITS = {"val": 3}'), "SPLITS"),
        (('SPLITS = {"val": 3, "test": 5}', 'SPLITS = {"val": 3, "test": 0}'), "SPLITS['test']"),
        (("TIME_LIMIT = 0.2", "TIME_LIMIT = -1"), "TIME_LIMIT"),
        (("TIME_LIMIT = 0.2", "TIME_LIMIT = '2'"), "TIME_LIMIT"),
        (("def score(", "def not_score("), "missing score"),
        (
            ("def make_instance(rng, index):", "make_instance = 3\ndef f(rng, index):"),
            "make_instance must be a function",
        ),
        (("return (x,), x + 1", "return x"), "make_instance must return (args_tuple, hidden)"),
        (("return (x,), x + 1", "return 1 / 0"), "make_instance raised ZeroDivisionError"),
        (("return (x,), x + 1", "return (object(),), x"), "instance 0 of val has arguments a worker cannot receive"),
        (("return (x,), x + 1", "return ({1: x},), x"), "dict keys must be strings"),
        (("TIME_LIMIT = 0.2", "TIME_LIMIT = 0.2\nLOAD_TIME_LIMIT = 0"), "LOAD_TIME_LIMIT must be a positive"),
        (("TIME_LIMIT = 0.2", "TIME_LIMIT = 0.2\nFAILURE_SCORE = 1.5"), "FAILURE_SCORE must be below MAX_SCORE"),
        (("TIME_LIMIT = 0.2", "TIME_LIMIT = 0.2\nENTRYPOINT = 'not valid'"), "ENTRYPOINT"),
        (("SPLITS = ", "import nonexistent_module_xyz\nSPLITS = "), "importing it raised ModuleNotFoundError"),
        (("def algorithm(x):", "def algorithm(x:"),
         "SEED_SOLUTION is not valid Python (line 1 of it: '(' was never closed); fix the seed solution"),
        (("def algorithm(x):", "def solve(x):"), "SEED_SOLUTION does not define algorithm(): define it at the top "),
        (("def algorithm(x):\\n    return x\\n", "algorithm = 5\\n"),
         "SEED_SOLUTION binds algorithm to `5`, which is not a function"),
        (('SPLITS = {"val": 3, "test": 5}', 'SPLITS = {"val": 10**9, "test": 5}'),
         "SPLITS['val'] is 1000000000; a split may have at most 10000 instances"),
    ],
)
def test_mistakes_are_one_line_task_errors_naming_the_file(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in VALID
    assert expected in error_for(tmp_path, VALID.replace(old, new))


def test_a_missing_file_and_a_non_python_file_are_task_errors(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="not found"):
        load_task_file(tmp_path / "absent.py")
    other = tmp_path / "task.txt"
    other.write_text("x = 1")
    with pytest.raises(TaskError, match=r"\.py"):
        load_task_file(other)


@pytest.mark.parametrize(("body", "said"), [("raise ValueError('odd output')", "raised ValueError: odd output"),
                                             ("return 'high'", "returned 'high', not a number"),
                                             ("return None", "returned None, not a number"),
                                             ("return float('nan')", "returned nan, not a finite number")])
def test_a_scorer_that_raises_or_returns_a_non_number_is_the_tasks_fault(tmp_path: Path, body: str, said: str) -> None:
    text = VALID.replace("return 1.0 if output == hidden else 0.0", body)
    task = load_task_file(write(tmp_path, text))
    with pytest.raises(ScorerError, match=rf"task adder \(adder\.py\): its scorer {re.escape(said)}"):
        task.checked_score(task.instances("val", TEST_SECRET)[0], 3, 0.0)


def test_a_scorer_may_call_an_output_malformed_with_bad_output(tmp_path: Path) -> None:
    text = VALID.replace("return 1.0 if output == hidden else 0.0",
                         "if not isinstance(output, int):\n        raise BadOutput('an int, please')\n"
                         "    return 1.0 if output == hidden else 0.0")
    task = load_task_file(write(tmp_path, "from selftaught.tasks import BadOutput\n" + text))
    instance = task.instances("val", TEST_SECRET)[0]
    with pytest.raises(BadOutput, match="an int, please"):
        task.checked_score(instance, "3", 0.0)
    assert task.checked_score(instance, instance.hidden, 0.0) == 1.0


def test_the_example_task_scores_its_seed_partially(tmp_path: Path) -> None:
    task = load_task_file(EXAMPLE)
    namespace: dict[str, Any] = {}
    exec(task.seed_solution, namespace)
    scores = [task.score_output(i, namespace["algorithm"](*i.args), 0.0) for i in task.instances("val", TEST_SECRET)]
    assert 0.0 < sum(scores) / len(scores) < 0.5
    instance = task.instances("val", TEST_SECRET)[0]
    assert task.score_output(instance, sorted(instance.args[0]), 0.0) == 1.0
    with pytest.raises(BadOutput, match="not a rearrangement"):
        task.score_output(instance, sorted(instance.args[0])[:-1], 0.0)


def test_a_task_file_rebuilt_from_its_source_elsewhere_is_the_same_task(tmp_path: Path) -> None:
    from selftaught.tasks import TaskSource, load_task_source, task_source

    path = write(tmp_path, VALID)
    task = load_task_file(path)
    shipped = task_source(task)
    assert shipped is not None and shipped.data == path.read_bytes()
    path.unlink()  # the node has no such file: the bytes are enough
    again = load_task_source(shipped)
    assert again.name == "adder" and task_source(again) == shipped
    assert again.instances("val", TEST_SECRET) == task.instances("val", TEST_SECRET)
    broken = load_task_source(TaskSource(shipped.path, shipped.data.replace(b"else 0.0", b"else 1 / 0")))
    with pytest.raises(ScorerError, match=r"adder\.py.*ZeroDivisionError"):
        broken.checked_score(again.instances("val", TEST_SECRET)[0], -1, 0.0)
