"""Parity tasks: instance shapes, noise, and a scorer that cannot be gamed by shape tricks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from selftaught.tasks import BadOutput
from selftaught.tasks.parity import ParityNoiselessTask, ParityNoiseTask
from support import TEST_SECRET


def best_subset_predictions(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> tuple[np.ndarray, float]:
    """Brute force over all 2^10 subsets: the one that disagrees least with the training labels."""
    best: tuple[float, np.ndarray] | None = None
    for bits in itertools.product((0, 1), repeat=train_x.shape[1]):
        mask = np.array(bits)
        errors = float(np.mean((train_x @ mask) % 2 != train_y))
        if best is None or errors < best[0]:
            best = (errors, mask)
    assert best is not None
    return (test_x @ best[1]) % 2, best[0]


@pytest.fixture(scope="module")
def lpn() -> ParityNoiseTask:
    return ParityNoiseTask()


@pytest.fixture(scope="module")
def noiseless() -> ParityNoiselessTask:
    return ParityNoiselessTask()


def test_lpn_instances_have_the_papers_shapes(lpn: ParityNoiseTask) -> None:
    assert len(lpn.instances("val", TEST_SECRET)) == 20 and len(lpn.instances("test", TEST_SECRET)) == 50
    train_x, train_y, test_x = lpn.instances("val", TEST_SECRET)[0].args
    assert train_x.shape == (100, 10) and train_y.shape == (100,) and test_x.shape == (20, 10)
    for array in (train_x, train_y, test_x):
        assert array.dtype.kind == "i" and set(np.unique(array)) <= {0, 1}
    assert lpn.time_limit == 2.0


def test_noiseless_instances_have_100_training_samples_as_the_papers_scorer(noiseless: ParityNoiselessTask) -> None:
    # The paper's noiseless scorer draws 100 (the text it showed the model said 80).
    train_x, train_y, test_x = noiseless.instances("test", TEST_SECRET)[3].args
    assert train_x.shape == (100, 10) and train_y.shape == (100,) and test_x.shape == (20, 10)


def test_noiseless_labels_are_an_exact_parity(noiseless: ParityNoiselessTask) -> None:
    for instance in noiseless.instances("val", TEST_SECRET)[:5]:
        predictions, train_error = best_subset_predictions(*instance.args)
        assert train_error == 0.0
        assert noiseless.score_output(instance, predictions, 0.1) == 1.0


def test_lpn_flips_about_five_percent_of_training_labels(lpn: ParityNoiseTask) -> None:
    errors = [best_subset_predictions(*inst.args)[1] for inst in lpn.instances("test", TEST_SECRET)[:20]]
    assert 0.02 <= float(np.mean(errors)) <= 0.08


def test_true_labels_score_one_and_inverted_labels_zero(lpn: ParityNoiseTask) -> None:
    instance = lpn.instances("test", TEST_SECRET)[0]
    truth = instance.hidden
    assert lpn.score_output(instance, truth.copy(), 0.0) == 1.0
    assert lpn.score_output(instance, 1 - truth, 0.0) == 0.0
    assert lpn.score_output(instance, [int(v) for v in truth], 0.0) == 1.0
    assert lpn.score_output(instance, truth.astype(bool), 0.0) == 1.0
    assert lpn.score_output(instance, truth.astype(float), 0.0) == 1.0


def test_partly_right_predictions_score_the_fraction_correct(lpn: ParityNoiseTask) -> None:
    instance = lpn.instances("val", TEST_SECRET)[1]
    predictions = instance.hidden.copy()
    predictions[:5] = 1 - predictions[:5]
    assert lpn.score_output(instance, predictions, 0.0) == pytest.approx(0.75)


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda t: t.reshape(20, 1),  # the paper's reward hack: broadcasts to a 20x20 comparison
        lambda t: t.reshape(1, 20),
        lambda t: np.tile(t, 20),  # 400 predictions
        lambda t: t[:19],
        lambda t: np.append(t, 0),
        lambda t: np.full(20, 2),
        lambda t: t * 1.5,
        lambda t: np.full(20, np.nan),
        lambda t: np.array(1),
        lambda t: 1,
        lambda t: None,
        lambda t: "0" * 20,
        lambda t: [[int(v)] for v in t],
        lambda t: {"predictions": t.tolist()},
        lambda t: [str(v) for v in t],
    ],
)
def test_malformed_predictions_are_bad_output(lpn: ParityNoiseTask, make_bad: object) -> None:
    instance = lpn.instances("test", TEST_SECRET)[2]
    output = make_bad(instance.hidden.copy())  # type: ignore[operator]
    with pytest.raises(BadOutput, match="expected 20 predictions"):
        lpn.score_output(instance, output, 0.0)


def test_instances_are_deterministic_and_splits_differ() -> None:
    a, b = ParityNoiseTask(), ParityNoiseTask()
    first, again = a.instances("val", TEST_SECRET)[0], b.instances("val", TEST_SECRET)[0]
    for x, y in zip(first.args, again.args, strict=True):
        assert np.array_equal(x, y)
    assert not np.array_equal(a.instances("test", TEST_SECRET)[0].args[0], first.args[0])


def test_scores_are_clipped_to_zero_to_one_and_a_failure_scores_zero(lpn: ParityNoiseTask) -> None:
    instance = lpn.instances("val", TEST_SECRET)[0]
    assert lpn.clip(lpn.score_output(instance, instance.hidden.copy(), 0.0)) == 1.0
    assert lpn.clip(lpn.score_output(instance, 1 - instance.hidden, 0.0)) == 0.0
    assert lpn.clip(float("nan")) == 0.0 and lpn.clip(-3.0) == 0.0
