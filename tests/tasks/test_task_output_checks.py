"""The shared output validators: exact 0/1 vectors and exact permutations, nothing that broadcasts."""

from __future__ import annotations

import numpy as np

from selftaught.tasks._common import binary_vector, permutation, read_data


def test_binary_vector_accepts_zero_one_values_of_any_numeric_kind() -> None:
    for output in ([0, 1, 1], [False, True, True], [0.0, 1.0, 1.0], np.array([0, 1, 1]), np.array([0.0, 1, 1])):
        result = binary_vector(output, 3)
        assert result is not None and result.tolist() == [0, 1, 1]


def test_binary_vector_rejects_wrong_length_shape_values_and_types() -> None:
    for output in (
        [0, 1],
        [0, 1, 1, 0],
        np.array([[0], [1], [1]]),
        np.array([0, 1, 2]),
        [0, 1, 10**400],
        [0, 1, float("nan")],
        np.array([0, 1, np.nan]),
        np.array(["0", "1", "1"]),
        ["0", "1", "1"],
        [[0], [1], [1]],
        (0, 1, 1),
        None,
        1,
    ):
        assert binary_vector(output, 3) is None


def test_permutation_accepts_exact_permutations_only() -> None:
    assert permutation([2, 0, 1], 3) is not None
    assert permutation(np.array([2, 0, 1]), 3) is not None
    for output in (
        [0, 0, 1],
        [0, 1],
        [0, 1, 2, 0],
        [0.0, 1.0, 2.0],
        [True, False, 2],
        [0, 1, 10**30],
        np.eye(3, dtype=int),
    ):
        assert permutation(output, 3) is None


def test_read_data_finds_the_shipped_files() -> None:
    assert "def algorithm" in read_data("parity_noise", "seed.txt")
