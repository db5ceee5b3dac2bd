"""Warm workers (evaluations and improvers forked from zygotes) change how fast a run is, never what it finds: the
same figures, counters and safety counts as a run whose every program starts a fresh sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import selftaught
from selftaught.sandbox import BwrapSandbox

TINY = {"iterations": 1, "downstream_runs": 2, "max_responses": 2, "utility_budget": 4, "lm_budget": 1,
        "meta_utility_budget": 2, "lm": "mutate", "task": "parity_noise", "sandbox": "strict"}


def _found(summary: dict[str, Any]) -> dict[str, Any]:
    return {"figures": [(i["iteration"], i["improver"], i["meta_utility_val"], i["meta_utility_test"],
                         i["selection_score"], i["failure"]) for i in summary["iterations"]],
            "safety": summary["safety"], "evaluations": summary["counters"]["evaluations"],
            "calls": summary["usage"]["calls"]}


def test_a_run_finds_the_same_with_warm_workers_on_and_off(tmp_path: Path) -> None:
    if os.getuid() != 0 or BwrapSandbox().setpriv is None:
        pytest.skip("warm workers need the bubblewrap sandbox as root here")
    warm = selftaught.run(seed=3, runs_dir=tmp_path / "warm", warm_workers=True, **TINY)
    cold = selftaught.run(seed=3, runs_dir=tmp_path / "cold", warm_workers=False, **TINY)
    assert warm.summary["sandbox"]["name"] == "bwrap" and warm.summary["complete"]
    assert _found(warm.summary) == _found(cold.summary)
    assert warm.summary["safety"]["run"]["reward_hacking"]  # the counts compared are not all empty
