"""Downstream runs keep each instance's score on val and test (what paired comparisons need)."""

from __future__ import annotations

import pytest

from selftaught.improver import seed_improver
from selftaught.stop.meta_utility import MetaUtility
from support import BAD_SUM, GOOD_SUM, SumTask, make_services


def test_downstream_runs_keep_per_instance_scores_whose_mean_is_the_score(sum_task: SumTask) -> None:
    services = make_services([GOOD_SUM, BAD_SUM])
    try:
        score = MetaUtility(services, [sum_task]).score(seed_improver(), purpose="compare", with_test=True)
    finally:
        services.close()
    for run in score.runs:
        assert len(run.val_instances) == 4 and len(run.test_instances) == 6
        assert sum(run.val_instances) / 4 == pytest.approx(run.val)
        assert run.test is not None and sum(run.test_instances) / 6 == pytest.approx(run.test)
    assert score.val == 1.0


def test_without_test_no_test_instances_are_kept(sum_task: SumTask) -> None:
    services = make_services([GOOD_SUM])
    try:
        score = MetaUtility(services, [sum_task]).score(seed_improver(), purpose="measure")
    finally:
        services.close()
    assert all(run.test_instances == () and len(run.val_instances) == 4 for run in score.runs)
