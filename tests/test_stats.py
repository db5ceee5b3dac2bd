"""The intervals and tests behind every reported figure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selftaught.stats import (
    bootstrap_ci,
    hoeffding_halfwidth,
    holm,
    nested_bootstrap_ci,
    paired_comparison,
    pairs_needed,
    smallest_sign_flip_p,
)


def test_a_bootstrap_interval_is_seeded_and_covers_the_mean() -> None:
    values = [0.1, 0.5, 0.9, 0.4, 0.6, 0.3, 0.7]
    first = bootstrap_ci(values, seed=3)
    assert first == bootstrap_ci(values, seed=3)
    assert first.low < first.mean < first.high and first.n == 7
    assert first.mean == pytest.approx(np.mean(values))


def test_a_bootstrap_interval_covers_the_true_mean_about_as_often_as_it_says() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        sample = rng.uniform(0, 1, size=40)
        ci = bootstrap_ci(sample.tolist(), seed=trial, resamples=500)
        covered += ci.low <= 0.5 <= ci.high
    assert 0.88 <= covered / 200 <= 0.99  # a 95% interval (percentile bootstrap runs a little narrow)


def test_more_values_give_a_narrower_interval_and_constant_values_none() -> None:
    rng = np.random.default_rng(1)
    small = bootstrap_ci(rng.uniform(size=10).tolist())
    large = bootstrap_ci(rng.uniform(size=1000).tolist())
    assert large.high - large.low < (small.high - small.low) / 3
    flat = bootstrap_ci([0.25] * 8)
    assert flat.low == flat.high == flat.mean == 0.25
    assert math.isnan(bootstrap_ci([]).mean)


def test_the_nested_bootstrap_counts_both_runs_and_instances() -> None:
    # Runs that disagree widen the interval beyond what their instances alone would give.
    agreeing = [[0.5, 0.5, 0.4, 0.6]] * 5
    disagreeing = [[0.1, 0.1, 0.0, 0.2], [0.9, 0.9, 0.8, 1.0]] * 3
    a = nested_bootstrap_ci(agreeing, seed=0)
    b = nested_bootstrap_ci(disagreeing, seed=0)
    assert a.mean == pytest.approx(0.5) and b.mean == pytest.approx(0.5)
    assert (b.high - b.low) > 3 * (a.high - a.low) > 0
    assert nested_bootstrap_ci(disagreeing, seed=0) == b


def test_the_nested_bootstrap_covers_the_true_mean_about_as_often_as_it_says() -> None:
    # Two sources of chance, as in a meta-utility: each run has its own level, each instance its own noise, and
    # runs have different numbers of instances. The mean of the run means is 0.5 (the model is symmetric about it).
    hits, trials = 0, 300
    for trial in range(trials):
        rng = np.random.default_rng(100 + trial)
        groups = [np.clip(0.5 + rng.normal(0, 0.1) + rng.normal(0, 0.2, size=rng.integers(5, 15)), 0, 1).tolist()
                  for _ in range(12)]
        ci = nested_bootstrap_ci(groups, seed=trial, resamples=500)
        hits += ci.low <= 0.5 <= ci.high
    assert 0.9 <= hits / trials <= 0.99


def test_the_nested_bootstrap_skips_empty_groups_and_a_single_value_is_its_own_interval() -> None:
    assert nested_bootstrap_ci([[0.2, 0.4], [], [0.6, 0.8]], seed=1) == nested_bootstrap_ci([[0.2, 0.4], [0.6, 0.8]],
                                                                                             seed=1)
    single = nested_bootstrap_ci([[0.7]])
    assert (single.mean, single.low, single.high, single.n) == (0.7, 0.7, 0.7, 1)
    assert math.isnan(nested_bootstrap_ci([[], []]).mean)


def test_hoeffding_is_the_papers_bound() -> None:
    # sqrt(ln(2/0.05) / (2n)): 0.1358 for n = 100
    assert hoeffding_halfwidth(100) == pytest.approx(math.sqrt(math.log(40) / 200))
    assert hoeffding_halfwidth(400) == pytest.approx(hoeffding_halfwidth(100) / 2)
    assert hoeffding_halfwidth(0) == math.inf


def test_a_paired_comparison_finds_a_real_difference_and_not_a_fake_one() -> None:
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 1, size=60)
    better = paired_comparison(a.tolist(), (a + 0.1 + rng.normal(0, 0.05, size=60)).tolist(), seed=0)
    assert better.p_value < 0.01 and better.difference.low > 0.05
    same = paired_comparison(a.tolist(), (a + rng.normal(0, 0.05, size=60)).tolist(), seed=0)
    assert same.p_value > 0.05 and same.difference.low < 0 < same.difference.high
    assert paired_comparison([0.5] * 5, [0.5] * 5).p_value == 1.0
    with pytest.raises(ValueError):
        paired_comparison([1.0], [1.0, 2.0])


def test_the_sign_flip_p_value_is_exact_for_few_pairs() -> None:
    # six pairs all in favour of B: only the all-plus and all-minus patterns are as extreme, p = 2 / 64
    result = paired_comparison([0.0] * 6, [0.1, 0.2, 0.3, 0.1, 0.2, 0.3])
    assert result.p_value == pytest.approx(2 / 64) == smallest_sign_flip_p(6)
    # five pairs can never be significant at 5%: the smallest p is 2 / 32
    assert paired_comparison([0.0] * 5, [1.0] * 5).p_value == pytest.approx(0.0625) == smallest_sign_flip_p(5)
    # opposite differences: every sign pattern is as extreme as the one seen
    assert paired_comparison([0.0, 0.0], [0.5, -0.5]).p_value == 1.0


def test_holm_multiplies_the_kth_smallest_p_by_the_tests_left_and_keeps_the_order() -> None:
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.3, 0.6]) == pytest.approx([0.6, 0.6])  # never smaller than a smaller p's adjustment
    assert holm([0.9, 0.8]) == [1.0, 1.0] and holm([]) == []


def test_holm_keeps_the_chance_of_any_false_rejection_at_most_alpha() -> None:
    # 400 families of 6 true null hypotheses (uniform p-values): at most 5 % with any adjusted p below 0.05.
    rng = np.random.default_rng(5)
    families = rng.uniform(size=(400, 6))
    rejected = sum(min(holm(list(row))) < 0.05 for row in families)
    unadjusted = sum(row.min() < 0.05 for row in families)
    assert rejected <= 0.05 * 400 + 3 * math.sqrt(400 * 0.05 * 0.95) and unadjusted > 2 * rejected


def test_the_pairs_a_sign_flip_test_needs_grow_with_holms_family() -> None:
    assert pairs_needed(0.05) == 6 and smallest_sign_flip_p(5) >= 0.05 > smallest_sign_flip_p(6)
    assert (pairs_needed(0.05, 2), pairs_needed(0.05, 3), pairs_needed(0.05, 10)) == (7, 7, 9)
