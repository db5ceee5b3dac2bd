"""Online 1-D bin packing (FunSearch): a `priority(item, bins)` heuristic places items one by one."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from selftaught.tasks._base import BadOutput, Instance, Task, mean_measure
from selftaught.tasks._common import OUTPUT_OVERHEAD, describe, int_vector, read_data

#: The scale of the score map: an instance scores 1 / (1 + excess / EXCESS_SCALE), so matching the L1 bound scores
#: 1, an excess of 5% scores 0.5 and 10% scores 1/3.
EXCESS_SCALE = 0.05
#: How much over its capacity a bin's load may be (items are whole numbers: none is, but the sums are floats).
LOAD_TOLERANCE = 1e-9


def drive(priority: Callable[[float, Any], Any], items: npt.NDArray[np.float64], capacity: float) -> Any:
    """Packs `items` in order with FunSearch's `online_binpack`: returns the bin (0..len(items)-1) of each item.

    There are as many bins as items, each starting at `capacity`; each item goes to the bin of highest
    `priority(item, bins)` among the bins it fits in (an empty bin is a new one), the first on ties. Runs in the
    worker beside the candidate (the task's harness); the host checks the packing it returns.
    """
    remaining = np.full(len(items), float(capacity))
    placed = np.empty(len(items), dtype=np.int64)
    for i, item in enumerate(items.tolist()):
        valid = np.nonzero((remaining - item) >= 0)[0]
        priorities = np.asarray(priority(item, remaining[valid]), dtype=np.float64)
        if priorities.shape != valid.shape:
            raise ValueError(f"priority(item, bins) must return one number per bin: bins had shape {valid.shape}, "
                             f"the priorities shape {priorities.shape}")
        if np.isnan(priorities).any():
            raise ValueError("priority(item, bins) returned NaN")
        best = valid[int(np.argmax(priorities))]
        remaining[best] -= item
        placed[i] = best
    return placed


#: The harness the worker runs: `drive`, defined on its own (numpy is all it needs).
HARNESS = "from __future__ import annotations\n\nimport numpy as np\n\n\n" + inspect.getsource(drive)


def l1_bound(items: npt.NDArray[np.float64], capacity: float) -> int:
    """The L1 lower bound on the number of bins: ceil(total size / capacity)."""
    return math.ceil(float(np.sum(items)) / capacity - LOAD_TOLERANCE)


def excess_score(excess: float) -> float:
    """The score of an instance packed with `excess` = (bins - L1) / L1 (0 at the bound): 1 / (1 + excess / 0.05)."""
    return 1.0 / (1.0 + excess / EXCESS_SCALE)


def excess_of_score(score: float) -> float:
    """The excess over the L1 bound an instance's score stands for (the inverse of `excess_score`)."""
    return EXCESS_SCALE * (1.0 / score - 1.0)


def bins_used(placed: Any, items: npt.NDArray[np.float64], capacity: float) -> int:
    """The bins a packing (the bin of each item, 0..len(items)-1) uses; BadOutput if it is not one or overfills one."""
    n = len(items)
    expected = f"expected the bin of each of the {n} items, ints in 0..{n - 1} (a list or a 1-D integer array)"
    bins = int_vector(placed, n, expected)
    if bins.shape != (n,):
        raise BadOutput(f"{expected}; got {describe(placed)}")
    if n and (bins.min() < 0 or bins.max() >= n):
        raise BadOutput(f"{expected}; got values outside 0..{n - 1}")
    loads = np.bincount(bins, weights=items, minlength=n)
    if np.any(loads > capacity + LOAD_TOLERANCE):
        over = int(np.argmax(loads))
        raise BadOutput(f"bin {over} holds {loads[over]:g}, over the capacity {capacity:g}")
    return int(np.count_nonzero(np.bincount(bins, minlength=n)))


class BinPackingTask(Task):
    """Instances alternate between FunSearch's two families, one of each per pair of indices:

    - even index, "Weibull 5k": 5,000 items of size int(45 x Weibull(shape 3)), clipped to 1..100, capacity 100
      (truncated: the item sizes of FunSearch's published Weibull 5k set average 39.75, 45 x Gamma(4/3) - 0.5 = 39.69);
    - odd index, OR-Library style (OR1..OR4): 120, 250, 500 or 1000 items (one size drawn), uniform integers
      20..100, capacity 150.

    The host places each item by the program's `priority(item, bins)` (FunSearch's `online_binpack`, run as the
    task's harness in the worker) and checks the packing it gets back. FunSearch's measure is the excess of the bins
    used over the L1 bound, e = (bins - L1) / L1 (lower is better); an instance scores 1 / (1 + e / 0.05), so 1 at
    the bound, 0.5 at an excess of 5% (about best-fit's) and falling towards 0 as the excess grows.
    """

    name = "bin_packing"
    summary = "online bin packing: a priority(item, bins) heuristic, scored by bins over the L1 bound (FunSearch)"
    entrypoint = "priority"
    harness = HARNESS
    split_sizes: Mapping[str, int] = {"val": 10, "test": 40}
    split_seeds: Mapping[str, int] = {"val": 2025, "test": 2026}
    time_limit = 2.0
    failure_score = 0.0
    max_score = 1.0
    known_holes = (
        "offline packing: the packing loop runs in the worker beside the program (one call per instance), so a "
        "program can read every item of the instance (from its caller's frame) and pack them offline; the host "
        "checks that the packing is feasible and counts its bins, not that it was made online",
    )

    weibull_items: int = 5000
    weibull_scale: float = 45.0
    weibull_shape: float = 3.0
    weibull_capacity: int = 100
    uniform_sizes: tuple[int, ...] = (120, 250, 500, 1000)
    uniform_low: int = 20
    uniform_high: int = 100
    uniform_capacity: int = 150
    # one bin index per item, each at most 4 digits and a separator on the wire: 25 KB for 5,000 items, in any form
    max_output_bytes = OUTPUT_OVERHEAD + 8 * weibull_items

    def __init__(self) -> None:
        self.description = read_data(self.name, "description.txt")
        self.seed_solution = read_data(self.name, "seed.txt")

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        if index % 2 == 0:
            sizes = np.floor(self.weibull_scale * rng.weibull(self.weibull_shape, self.weibull_items))
            items = np.clip(sizes, 1, self.weibull_capacity)
            return Instance(args=(items.astype(np.float64), float(self.weibull_capacity)), hidden="weibull")
        n = int(rng.choice(self.uniform_sizes))
        items = rng.integers(self.uniform_low, self.uniform_high + 1, size=n)
        return Instance(args=(items.astype(np.float64), float(self.uniform_capacity)), hidden="uniform")

    def source_measure(self, instances: Sequence[Instance], scores: Sequence[float | None]) -> dict[str, Any] | None:
        """FunSearch's figure: the mean excess of bins over the L1 bound, in percent, over the valid packings."""
        return mean_measure("excess over the L1 bound (%)",
                            [100 * excess_of_score(s) for s in scores if s is not None and s > 0],
                            "FunSearch's measure, lower is better: (bins - L1) / L1, the mean over the instances "
                            "packed validly")

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        items, capacity = instance.args
        bound = l1_bound(items, capacity)
        return excess_score((bins_used(output, items, capacity) - bound) / bound)
