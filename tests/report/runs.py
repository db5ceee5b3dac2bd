"""Hand-made run directories for the report's tests (no real run: fast, and every edge case on purpose)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IMPROVER = "a0" * 8
SOLUTION = "b1" * 8
IMPROVER_CODE = "def improve_algorithm(initial_solution, utility, language_model):\n    return initial_solution\n"


def measure_events(improver: str = IMPROVER) -> list[dict[str, Any]]:
    """Two `measure` downstream runs of `improver`: one scored (val 0.6, test 0.4), one failed without a solution."""
    ctx = {"iteration": 0, "level": "task", "improver": improver, "task_name": "parity_noise", "purpose": "measure"}
    return [
        {"kind": "program", "iteration": 0, "program": improver, "role": "improver", "static_flags": {}},
        {"kind": "utility_call", **ctx, "run": 0, "use": 1, "split": "val", "score": 0.1, "program": "c2" * 8,
         "cached": False, "failure": None, "failures": {}, "instances": 2, "instance_scores": [0.1, 0.1]},
        {"kind": "improver_run", "iteration": 0, "stream": f"measure/{improver}/parity_noise/0", "level": "task",
         "improver": improver, "failure": None, "solution": SOLUTION, "audit": {}},
        {"kind": "utility_call", **ctx, "run": 0, "split": "val", "score": 0.6, "program": SOLUTION, "cached": False,
         "failure": None, "failures": {"timeout": 1}, "instances": 2, "instance_scores": [0.5, 0.7]},
        {"kind": "utility_call", **ctx, "run": 0, "split": "test", "score": 0.4, "program": SOLUTION, "cached": False,
         "failure": None, "failures": {}, "instances": 2, "instance_scores": [0.4, 0.4]},
        {"kind": "improver_run", "iteration": 0, "stream": f"measure/{improver}/parity_noise/1", "level": "task",
         "improver": improver, "failure": "timeout", "solution": None, "audit": {"file_read": 1}},
    ]


def make_run(root: Path, *, format_version: int = 1, summary: bool = True, extra: str = "") -> Path:
    """A one-iteration run of `IMPROVER` (meta-utility val 0.3, test 0.2: one run failed and counts 0)."""
    (root / "improvers").mkdir(parents=True)
    (root / "programs").mkdir()
    (root / "improvers" / "I_0.py").write_text(IMPROVER_CODE)
    (root / "programs" / f"{IMPROVER}.py").write_text(IMPROVER_CODE)
    (root / "manifest.json").write_text(json.dumps({"format_version": format_version, "task": {"name": "parity_noise"},
                                                    "seed": 0, "config": {"lm": "mutate"}}))
    record = {"iteration": 0, "improver": IMPROVER, "meta_utility_val": (0.6 + 0.0) / 2,
              "meta_utility_test": (0.4 + 0.0) / 2, "selection_score": None, "kept_previous": False,
              "failure": None, "detail": ""}
    events = [*measure_events(), {"kind": "iteration", **record}]
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events) + extra)
    if summary:
        (root / "summary.json").write_text(json.dumps({"task": "parity_noise", "complete": True, "iterations": [record],
                                                       "usage": {"calls": 0, "by_level": {}, "by_iteration": {}}}))
    return root
