"""A shared split secret reproduces a benchmark's exact instances: each built-in split's digest is pinned.

`--split-secret` exists to share a benchmark's exact instances, and equal fingerprints must mean equal
instances, in this version and the next. So the instances a fixed secret derives are golden values: a
changed split seed, generator or draw order (even one that keeps every statistic the same) fails here.
If a change of the instances is intended, it breaks every shared benchmark: say so, then update the digests.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pytest

from selftaught.tasks import get_task
from support import TEST_SECRET


def canonical(value: Any) -> Any:
    """A JSON-able form of an instance's values that keeps dtypes, shapes and exact bytes (little-endian)."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        return {"dtype": data.dtype.str, "shape": list(data.shape),
                "sha256": hashlib.sha256(data.tobytes()).hexdigest()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        return {"float": value.hex()}
    return value


def digest(name: str, split: str) -> str:
    instances = get_task(name).instances(split, TEST_SECRET)
    text = json.dumps([[canonical(i.args), canonical(i.hidden)] for i in instances], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: Golden: the digests of every split for support.TEST_SECRET (the value of the benchmark a shared secret names).
DIGESTS = {
    ("parity_noise", "val"): "a7d4acdd94833f10",
    ("parity_noise", "test"): "03fb62e5ec4b74f9",
    ("parity_noiseless", "val"): "337cebc911b5abd0",
    ("parity_noiseless", "test"): "cdf7bb8ea531c88d",
    ("three_sat", "val"): "f5f23dd91aebcb23",
    ("three_sat", "test"): "d871499f213a4505",
    ("maxcut", "val"): "fb41c7be7efed350",
    ("maxcut", "test"): "e560b56a11b428a7",
    ("modified_quadratic_assignment", "val"): "42319a56b295893e",
    ("modified_quadratic_assignment", "test"): "a21597d6b9e29feb",
    ("str_grid_dist", "val"): "5905b3ec845ec4c2",
    ("str_grid_dist", "test"): "6a91861111d94ba7",
}


@pytest.mark.parametrize("name, split", list(DIGESTS), ids=[f"{n}-{s}" for n, s in DIGESTS])
def test_a_fixed_secret_derives_the_same_instances_as_before(name: str, split: str) -> None:
    assert digest(name, split) == DIGESTS[name, split]
