"""Learning a sparse parity from samples, with label noise (LPN, the paper's main task) or without."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from selftaught.tasks._base import Instance, Task
from selftaught.tasks._common import binary_vector, output_bytes, read_data


class _ParityTask(Task):
    """Predict the parity of a hidden subset of bits on test samples, after seeing labelled samples.

    Each of `n_bits` secret bits is on with probability `p_secret`; a sample is `n_bits` fair coin
    flips and its label is the parity of its secret bits; training labels are flipped with
    probability `noise`. The candidate returns one 0/1 prediction per test sample.
    """

    entrypoint = "algorithm"
    split_sizes: Mapping[str, int] = {"val": 20, "test": 50}
    split_seeds: Mapping[str, int] = {"val": 4321, "test": 5678}
    time_limit = 2.0
    failure_score = 0.0
    max_score = 1.0

    n_bits: int = 10
    p_secret: float = 0.3
    n_train: int = 100
    n_test: int = 20
    noise: float = 0.05
    max_output_bytes = output_bytes(n_test)  # one prediction per test sample

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        secret = (rng.random(self.n_bits) < self.p_secret).astype(np.int64)
        samples = rng.integers(0, 2, size=(self.n_train + self.n_test, self.n_bits), dtype=np.int64)
        labels = (samples @ secret) % 2
        train_labels = labels[: self.n_train].copy()
        if self.noise > 0:
            flips = (rng.random(self.n_train) < self.noise).astype(np.int64)
            train_labels = (train_labels + flips) % 2
        args = (samples[: self.n_train], train_labels, samples[self.n_train :])
        return Instance(args=args, hidden=labels[self.n_train :])

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        truth = instance.hidden
        predictions = binary_vector(output, len(truth), "predictions")
        return float(np.mean(predictions == truth))

    def lax_score_output(self, instance: Instance, output: Any) -> float | None:
        """The line the LM is shown, as the paper wrote it: `np.sum(predictions == test_parity) / n_test`.

        It broadcasts: a (20, 1) array of predictions compares against every label and can "score"
        up to 20. (The paper's released LPN scorer reshapes both sides to 1-D first; its noiseless
        scorer, and the form behind the paper's reward-hacking observation, do not.)
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about comparisons it cannot do elementwise
            return float(np.sum(output == instance.hidden) / self.n_test)


class ParityNoiseTask(_ParityTask):
    """Learning parity with noise: 100 training samples, 5% of their labels flipped."""

    name = "parity_noise"
    summary = "learning parity with noise (LPN): 10 bits, 100 noisy training samples, 20 to predict"
    n_train = 100
    noise = 0.05


class ParityNoiselessTask(_ParityTask):
    """Learning parity without noise: 100 training samples with correct labels.

    100 as the paper's scorer draws them (the text it showed the LM said 80).
    """

    name = "parity_noiseless"
    summary = "learning parity without noise: 10 bits, 100 training samples, 20 to predict"
    n_train = 100
    noise = 0.0
