"""Each built-in seed scores what docs/tasks.md says it does, on val with the tests' own split secret.

The seeds do what the paper's seeds do (docs/tasks.md, "Fidelity to the paper"), so their scores
are pinned to the values measured with TEST_SECRET, which that page lists beside the paper's. The
val split keeps each test within a few seconds (max-cut's test split alone takes about 8 s).

What the tolerance covers, per task:
- parity, grid distance: nothing can move these scores. The secret fixes the instances, the
  worker's seed (0) fixes the seed's random guesses, and numpy's legacy random stream is frozen;
  the tolerance is rounding.
- modified QAP: the seed's elapsed time, which the paper's objective adds (well under 0.1 s of a
  0.5 s limit: under 0.0005 per instance).
- 3-SAT, max-cut: timing. These seeds run close to the 0.1 s limit (3-SAT's slowest solved formula
  takes about 0.06 s, max-cut's greedy about 0.1 s at 135 nodes, growing as n^3), so a loaded or
  slower machine turns solved instances into timeouts. The tolerance allows four more failed
  formulas on 3-SAT (0.12), and on max-cut (0.14) a machine up to three times slower (the greedy
  then finishes graphs up to about 94 nodes and scores about 0.18) or 1.5 times faster (about
  0.39). It still fails a seed that times out or fails everywhere (0.01), a random split (about
  0.5) or a fast greedy (about 0.6), and the structural checks below pin the rest.
"""

from __future__ import annotations

from functools import cache

import pytest

from selftaught.evaluate import Evaluation, evaluate
from selftaught.tasks import get_task
from support import TEST_SECRET

#: Seed score on val with TEST_SECRET (docs/tasks.md) and the tolerance around it.
PINNED = {
    "parity_noise": (0.510, 0.001),
    "parity_noiseless": (0.550, 0.001),
    "str_grid_dist": (0.4501, 0.001),
    "modified_quadratic_assignment": (0.1998, 0.003),
    "three_sat": (0.934, 0.12),
    "maxcut": (0.31, 0.14),
    # the benchmarks (docs/tasks.md): closed-form or far below their limits, so only rounding moves them
    "circle_packing": (0.8349, 0.0001),
    "bin_packing": (0.5277, 0.0001),
    "tsp": (0.6901, 0.001),
    "knapsack": (0.818, 0.001),
}


@cache
def seed_on_val(name: str) -> Evaluation:
    """The seed's evaluation on val (once per test session: max-cut's takes about 4 s)."""
    task = get_task(name)
    return evaluate(task, task.seed_solution, "val", secret=TEST_SECRET)


@pytest.mark.parametrize("name", list(PINNED))
def test_seed_scores_the_documented_value(name: str) -> None:
    evaluation = seed_on_val(name)
    value, tolerance = PINNED[name]
    assert evaluation.failure is None
    assert evaluation.score == pytest.approx(value, abs=tolerance)
    if name not in ("three_sat", "maxcut"):
        assert evaluation.failures == {}


def test_the_3sat_seed_gives_up_on_some_formulas_and_only_those_instances_fail() -> None:
    # The paper's WalkSAT returns None after 1000 flips; its scorer then raised and gave the whole split 0.01.
    # Here the None is a bad_output on its own instance; the other formulas are solved.
    evaluation = seed_on_val("three_sat")
    task = get_task("three_sat")
    failed = [o for o in evaluation.outcomes if o.failure]
    assert failed and set(evaluation.failures) <= {"bad_output", "timeout"}
    assert all(o.score == 1.0 for o in evaluation.outcomes if not o.failure)
    assert all(o.score == task.failure_score for o in failed)


def test_the_maxcut_seed_finishes_the_small_graphs_with_a_greedy_cut_and_times_out_on_the_large() -> None:
    evaluation = seed_on_val("maxcut")
    task = get_task("maxcut")
    sizes = [instance.args[0].shape[0] for instance in task.instances("val", TEST_SECRET)]
    assert set(evaluation.failures) == {"timeout"}
    finished = [o.score for o in evaluation.outcomes if not o.failure]
    assert all(not o.failure for o, n in zip(evaluation.outcomes, sizes, strict=True) if n <= 80)
    assert any(o.failure for o, n in zip(evaluation.outcomes, sizes, strict=True) if n >= 180)
    assert 0.55 <= sum(finished) / len(finished) <= 0.68  # a greedy cut: better than a random split's 0.5
