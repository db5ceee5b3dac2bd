"""The shared output validators: exact 0/1 vectors and exact permutations, nothing that broadcasts."""

from __future__ import annotations

import numpy as np
import pytest

from selftaught.tasks import BadOutput
from selftaught.tasks._common import binary_vector, describe, permutation, read_data


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
        [0.5, 1, 1],  # not truncated to 0
        [0, 1, 1.5],
        np.array([0, 1, np.nan]),
        np.array(["0", "1", "1"]),
        ["0", "1", "1"],
        [[0], [1], [1]],
        (0, 1, 1),
        None,
        1,
    ):
        with pytest.raises(BadOutput, match=r"^expected 3 values, each 0 or 1 \(a list or a 1-D array\); got "):
            binary_vector(output, 3)


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
        with pytest.raises(BadOutput, match=r"^expected a permutation of 0\.\.2"):
            permutation(output, 3)


def test_permutation_messages_say_which_values_are_out_of_range_and_what_came() -> None:
    for output in ([-1, 0, 1], [0, 1, 3]):
        with pytest.raises(BadOutput, match=r"^expected a permutation of 0\.\.2 .*; got values outside 0\.\.2$"):
            permutation(output, 3)
    with pytest.raises(BadOutput, match=r"; got a list of 3 items \(int\) that is not one$"):
        permutation([0, 0, 1], 3)
    with pytest.raises(BadOutput, match=r"; got a numpy int64 array of shape \(3, 3\)$"):
        permutation(np.eye(3, dtype=np.int64), 3)


def test_bad_output_messages_say_what_came() -> None:
    assert describe(np.zeros((20, 1))) == "a numpy float64 array of shape (20, 1)"
    assert describe([1, "a"]) == "a list of 2 items (int, str)"
    assert describe("AB") == "a string of length 2" and describe(None) == "None"
    # at most 4 kinds are named, and at most 40 characters of any other value's repr
    assert describe([1, "a", None, 1.5, True, [1]]) == "a list of 6 items (NoneType, bool, float, int)"
    assert describe([]) == "a list of 0 items (empty)" and describe((0, 1)) == "a list of 2 items (int)"
    assert describe(7) == "a int (7)" and describe({"k": "x" * 100}) == "a dict ({'k': '" + "x" * 33 + ")"
    with pytest.raises(BadOutput, match=r"got a numpy float64 array of shape \(20, 1\)"):
        binary_vector(np.zeros((20, 1)), 20)


def test_read_data_finds_the_shipped_files() -> None:
    assert "def algorithm" in read_data("parity_noise", "seed.txt")
