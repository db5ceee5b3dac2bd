"""The mean meta-utility curve over repeated runs (seeds), per iteration, with its spread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selftaught.stats import bootstrap_ci

SPLITS = ("val", "test")


def spread(values: Sequence[float], *, seed: int = 0) -> dict[str, Any]:
    """The mean of `values` (one per run), their sample std, min and max, and a bootstrap interval over the runs."""
    data = np.asarray(values, dtype=float)
    interval = bootstrap_ci(data.tolist(), seed=seed)
    return {"mean": float(data.mean()), "std": float(data.std(ddof=1)) if data.size > 1 else 0.0,
            "min": float(data.min()), "max": float(data.max()), "low": interval.low, "high": interval.high,
            "n": int(data.size), "values": data.tolist()}


def mean_curve(summaries: Sequence[dict[str, Any]], *, seed: int = 0) -> list[dict[str, Any]]:
    """Per iteration t: the meta-utility of I_t on val and on test over the runs that reached t (`summary.json`s).

    A run stopped early (a cap, a failure) counts only for the iterations it finished: `n` says how many runs
    each figure is over.
    """
    by_iteration: dict[int, dict[str, list[float]]] = {}
    for summary in summaries:
        for item in summary.get("iterations", []):
            values = by_iteration.setdefault(int(item["iteration"]), {split: [] for split in SPLITS})
            for split in SPLITS:
                values[split].append(float(item[f"meta_utility_{split}"]))
    return [{"iteration": t, **{split: spread(values[split], seed=seed) for split in SPLITS}}
            for t, values in sorted(by_iteration.items())]
