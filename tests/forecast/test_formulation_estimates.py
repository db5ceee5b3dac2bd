"""The estimate of I^k and of the maximizer reads the plan the commands execute (stop.formulations)."""

from __future__ import annotations

import dataclasses

from selftaught.config import Config
from selftaught.forecast import estimate_arena, estimate_compare, estimate_run, estimate_transfer
from selftaught.improver import seed_improver
from selftaught.tasks import get_task

CONFIG = Config(downstream_runs=3, max_responses_per_call=2, lm_budget=3, utility_budget=4, iterations=1)
OTHER = seed_improver() + "\n# another improver\n"


def test_iterating_twice_counts_twice_the_downstream_calls_of_once() -> None:
    task = get_task("str_grid_dist")
    for estimate in (lambda c: estimate_transfer(c, OTHER, [task]),
                     lambda c: estimate_compare(c, seed_improver(), OTHER, task),
                     lambda c: estimate_arena(c, {"I_0": seed_improver(), "other": OTHER}, [task])):
        once, twice = estimate(CONFIG), estimate(dataclasses.replace(CONFIG, iterate=2))
        for field in ("calls", "samples", "input_tokens"):
            low, high = getattr(once.total, field), getattr(twice.total, field)
            assert (high.low, high.expected, high.high) == (2 * low.low, 2 * low.expected, 2 * low.high)
        assert any("I^2" in note for note in twice.parts[0].notes) and not once.parts[0].notes


def test_the_maximizers_prompts_carry_no_seed_solution() -> None:
    task = get_task("modified_quadratic_assignment")  # a long seed solution (simulated annealing)
    usual, maximizer = (estimate_compare(c, seed_improver(), OTHER, task)
                        for c in (CONFIG, dataclasses.replace(CONFIG, maximizer=True)))
    assert maximizer.total.calls == usual.total.calls
    assert maximizer.total.input_tokens.low < usual.total.input_tokens.low
    run, run_maximizer = (estimate_run(dataclasses.replace(c, task="maxcut"))
                          for c in (CONFIG, dataclasses.replace(CONFIG, maximizer=True)))
    assert run_maximizer.total.input_tokens.low < run.total.input_tokens.low
