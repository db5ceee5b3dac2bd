"""The STOP loop's bookkeeping: which improver each iteration improves, what it records, when it keeps I_{t-1}."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from selftaught.broker import Services
from selftaught.config import Config
from selftaught.lm import ScriptedBackend
from selftaught.stats import Interval, hoeffding_halfwidth
from selftaught.stop import Iteration, self_improve
from selftaught.store import RunStore, program_hash, read_events
from support import TEST_SECRET, SumTask

RIGHT_SUM = "def algorithm(a):\n    return int(sum(int(x) for x in a))\n"
ZERO_SUM = "def algorithm(a):\n    return 0\n"  # runs fine and scores 0 on every instance


def improver(when_improving_an_improver: str, solution: str = RIGHT_SUM) -> str:
    """An improver that needs no LM: given a task's solution it returns `solution`; given an improver (the STOP
    step) it runs `when_improving_an_improver` (a statement block that sees `initial_solution`)."""
    block = "\n".join("        " + line for line in when_improving_an_improver.splitlines())
    return (f"SOLUTION = {solution!r}\n\n\n"
            "def improve_algorithm(initial_solution, utility, language_model):\n"
            "    if 'def improve_algorithm' in initial_solution:\n"
            f"{block}\n"
            "    return SOLUTION\n")


#: Each generation returns itself with its generation number one higher (so I_t says which t made it).
GENERATIONS = improver("import re\n"
                       "n = int(re.search(r'# generation (\\d+)', initial_solution).group(1))\n"
                       "return initial_solution.replace(f'# generation {n}', f'# generation {n + 1}')") + \
    "# generation 0\n"


def generation(program: str) -> int:
    found = re.search(r"# generation (\d+)", program)
    assert found is not None
    return int(found.group(1))


class Run:
    """A small STOP run on the sum task (one downstream run per measurement) with its events and progress."""

    def __init__(self, tmp_path: Path, seed: str, iterations: int, *, store: bool = True) -> None:
        self.progress: list[str] = []
        self.snapshots: list[list[int]] = []
        config = Config(downstream_runs=1, max_responses_per_call=1, lm_budget=1, utility_budget=1,
                        meta_utility_budget=1, workers=2)
        run_store = RunStore(tmp_path / "run") if store else None
        services = Services(config, ScriptedBackend([RIGHT_SUM]), store=run_store, secret=TEST_SECRET,
                            progress=self.progress.append)
        try:
            self.history = self_improve(services, SumTask(), seed, iterations,
                                        on_iteration=lambda h: self.snapshots.append([i.index for i in h]))
        finally:
            services.close()
            if run_store is not None:
                run_store.close()
        self.events = read_events(tmp_path / "run") if store else []

    def loop_lines(self) -> list[str]:
        """The loop's own progress lines (not the downstream runs' lines)."""
        return [line for line in self.progress if "downstream run" not in line]

    def iteration_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "iteration"]


@pytest.fixture(scope="module")
def two_generations(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Two iterations from GENERATIONS: every step succeeds (one run shared by the tests that only read it)."""
    return Run(tmp_path_factory.mktemp("generations"), GENERATIONS, 2)


def test_each_iteration_improves_the_previous_iterations_improver(two_generations: Run) -> None:
    run = two_generations
    assert [(i.index, generation(i.improver), i.kept_previous) for i in run.history] == [
        (0, 0, False), (1, 1, False), (2, 2, False)]
    steps = [e for e in run.events if e["kind"] == "improver_run" and e["level"] == "meta"]
    assert [(e["iteration"], e["stream"], e["improver"]) for e in steps] == [
        (t, f"stop/{t}", program_hash(run.history[t - 1].improver)) for t in (1, 2)]
    assert [e["improver"] for e in run.iteration_events()] == [program_hash(i.improver) for i in run.history]


def test_events_are_stamped_with_the_iteration_whose_improver_they_measure(two_generations: Run) -> None:
    run = two_generations
    for item in run.history:
        measured = [e for e in run.events if e["kind"] == "utility_call" and e.get("purpose") == "measure"
                    and e.get("improver") == program_hash(item.improver)]
        assert {e["split"] for e in measured} == {"val", "test"}
        assert {e["iteration"] for e in measured} == {item.index}


def test_each_figure_is_the_fresh_measurement_on_val_and_test(two_generations: Run) -> None:
    run = two_generations
    for item in run.history:  # the right sum scores 1 on every instance of both splits
        assert (item.meta_utility_val, item.meta_utility_test) == (1.0, 1.0)
        assert item.val_interval is not None and item.test_interval is not None and item.runs == 1
    assert [(e["meta_utility_val"], e["meta_utility_test"]) for e in run.iteration_events()] == [(1.0, 1.0)] * 3


def test_progress_says_what_each_iteration_does_and_how_it_scored(two_generations: Run) -> None:
    measuring = "measuring meta-utility on val and test (fresh samples)"
    assert two_generations.loop_lines() == [
        f"[I_0] {measuring}",
        "[I_0] meta-utility val=1.0000 test=1.0000",
        "[I_1] improving I_0 with itself",
        f"[I_1] {measuring}",
        "[I_1] meta-utility val=1.0000 test=1.0000",
        "[I_2] improving I_1 with itself",
        f"[I_2] {measuring}",
        "[I_2] meta-utility val=1.0000 test=1.0000",
    ]


def test_on_iteration_sees_the_history_after_every_iteration(two_generations: Run) -> None:
    assert two_generations.snapshots == [[0], [0, 1], [0, 1, 2]]


def test_a_run_without_a_store_still_returns_every_iteration(tmp_path: Path) -> None:
    run = Run(tmp_path, GENERATIONS, 1, store=False)
    assert [generation(i.improver) for i in run.history] == [0, 1]


def test_an_improver_whose_solutions_all_score_zero_is_not_kept(tmp_path: Path) -> None:
    scores_zero = improver(f"return {improver('return initial_solution', ZERO_SUM)!r}")
    run = Run(tmp_path, scores_zero, 1)
    first, second = run.history
    assert second.kept_previous and second.failure == "scored_zero" and second.improver == first.improver
    assert (second.meta_utility_val, second.meta_utility_test) == (first.meta_utility_val, first.meta_utility_test)
    assert (second.val_interval, second.test_interval, second.runs) == (first.val_interval, first.test_interval, 1)
    assert run.loop_lines()[-1] == "[I_1] meta-utility val=1.0000 test=1.0000 (kept previous improver)"


def test_a_step_that_returns_nothing_is_recorded_with_the_improvers_own_failure(tmp_path: Path) -> None:
    run = Run(tmp_path, improver("return None"), 1)
    kept = run.history[1]
    assert kept.kept_previous and kept.failure == "no_solution" and kept.improver == run.history[0].improver
    assert run.iteration_events()[1]["failure"] == "no_solution"


def test_a_step_that_returns_an_empty_program_is_not_measured(tmp_path: Path) -> None:
    run = Run(tmp_path, improver("return ''"), 1)
    kept = run.history[1]
    assert kept.kept_previous and kept.failure == "no_code" and kept.detail
    assert "[I_1] measuring meta-utility on val and test (fresh samples)" not in run.loop_lines()


def test_a_crashing_step_keeps_the_error_as_its_detail(tmp_path: Path) -> None:
    run = Run(tmp_path, improver("raise ValueError('the step broke: ' + 'x' * 40)"), 1)
    kept = run.history[1]
    assert kept.kept_previous and kept.failure == "exception"
    assert "the step broke: " + "x" * 40 in kept.detail
    assert "the step broke" in run.iteration_events()[1]["detail"]


def test_an_empty_seed_improver_scores_the_failure_score_on_both_splits(tmp_path: Path) -> None:
    run = Run(tmp_path, "", 0)
    assert [(i.meta_utility_val, i.meta_utility_test) for i in run.history] == [(0.0, 0.0)]


def test_the_record_keeps_the_tail_of_a_long_detail() -> None:
    record = Iteration(1, "x", 0.5, 0.5, kept_previous=True, failure="exception",
                       detail="head " * 200 + "y" * 500).record()
    assert record["detail"] == "y" * 500


def test_the_record_gives_the_hoeffding_halfwidth_of_its_runs_at_six_decimals() -> None:
    interval = Interval(0.5, 0.25, 0.75, 4)
    record = Iteration(0, "x", 0.5, 0.5, val_interval=interval, test_interval=interval, runs=2).record()
    assert record["hoeffding_halfwidth"] == round(hoeffding_halfwidth(2), 6) != round(hoeffding_halfwidth(2), 5)
    assert record["meta_utility_val_ci"] == [0.25, 0.75]


def test_an_iteration_that_does_not_count_its_runs_claims_no_finite_hoeffding_bound() -> None:
    interval = Interval(0.5, 0.25, 0.75, 4)
    uncounted = Iteration(0, "x", 0.5, 0.5, val_interval=interval)
    assert uncounted.runs == 0 and math.isinf(uncounted.record()["hoeffding_halfwidth"])
    assert Iteration(0, "x", 0.5, 0.5).record()["hoeffding_halfwidth"] is None
