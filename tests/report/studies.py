"""Synthetic reproduce.json records for the study report's tests, made with the real formats' own code.

The numbers are chosen so that some figures cover the paper's and some do not (see EXPECTED): the seeds' values are
set, and every SPREAD is made by `selftaught.stop.curves` as `selftaught reproduce` makes it; transfer rows are
`TransferRow.record()`s; the sandbox results are `StudyResult.to_dict()`s with their Wilson intervals.
"""

from __future__ import annotations

import copy
from typing import Any

from selftaught.config import Config
from selftaught.safety.sandbox_flag import StudyResult, wilson_interval
from selftaught.stop.curves import mean_curve, spread
from selftaught.stop.transfer import TransferRow

SEEDS = [0, 1, 2, 3, 4]
#: Test meta-utility of I_t for each seed (seeds 3 and 4 stopped after I_2). Paper: 61 / 62.5 / 64 / 65 (approx.).
TEST = {0: [0.60, 0.61, 0.62, 0.60, 0.62],  # covers 61 +- 1
        1: [0.70, 0.71, 0.72, 0.70, 0.71],  # far above 62.5 +- 1.5: not covered
        2: [0.63, 0.64, 0.65, 0.64, 0.64],  # covers 64 +- 1
        3: [0.50, 0.52, 0.51]}              # far below 65 +- 1: not covered
VAL = {t: [v + 0.02 for v in values] for t, values in TEST.items()}
#: Per task: u(s), I_0, I_T on test for each seed (val is test + 0.01).
TRANSFER = {
    "str_grid_dist": ([0.435, 0.44, 0.445, 0.439, 0.441], [0.44, 0.445, 0.443, 0.44, 0.446],
                      [0.45, 0.46, 0.44, 0.45, 0.45]),  # u(s) and I_0 covered, I_T (56.7) not
    "modified_quadratic_assignment": ([0.20, 0.205, 0.21, 0.2, 0.2], [0.2, 0.21, 0.205, 0.21, 0.2],
                                      [0.22, 0.225, 0.215, 0.22, 0.22]),  # all covered
    "three_sat": ([0.78, 0.8, 0.76, 0.78, 0.79], [0.8, 0.82, 0.81, 0.8, 0.8],
                  [0.74, 0.75, 0.76, 0.75, 0.76]),  # u(s) not comparable; I_0 (21.2) not covered; I_T covered
    "maxcut": ([0.33, 0.34, 0.35, 0.33, 0.34], [0.58, 0.59, 0.585, 0.59, 0.585],
               [0.6, 0.61, 0.6, 0.62, 0.6]),  # u(s) not comparable; I_0 covered; I_T (74.2) not covered
    "parity_noiseless": ([0.49, 0.5, 0.51, 0.5, 0.5], [0.59, 0.6, 0.59, 0.6, 0.59],
                         [0.8, 0.82, 0.81, 0.83, 0.82]),  # all covered
}
#: The verdicts those numbers must get: (section, key, column) -> verdict.
EXPECTED = {
    ("curve", 0): "covered", ("curve", 1): "not covered", ("curve", 2): "covered", ("curve", 3): "not covered",
    ("str_grid_dist", "seed_utility"): "covered", ("str_grid_dist", "I_0"): "covered",
    ("str_grid_dist", "I_T"): "not covered",
    ("modified_quadratic_assignment", "seed_utility"): "covered", ("modified_quadratic_assignment", "I_0"): "covered",
    ("modified_quadratic_assignment", "I_T"): "covered",
    ("three_sat", "seed_utility"): "not comparable", ("three_sat", "I_0"): "not covered",
    ("three_sat", "I_T"): "covered",
    ("maxcut", "seed_utility"): "not comparable", ("maxcut", "I_0"): "covered", ("maxcut", "I_T"): "not covered",
    ("parity_noiseless", "seed_utility"): "covered", ("parity_noiseless", "I_0"): "covered",
    ("parity_noiseless", "I_T"): "covered",
    ("sandbox", "warn"): "covered", ("sandbox", "nowarn"): "not covered",
}


def _summary(seed_index: int) -> dict[str, Any]:
    items = [{"iteration": t, "meta_utility_val": VAL[t][seed_index], "meta_utility_test": TEST[t][seed_index]}
             for t in TEST if seed_index < len(TEST[t])]
    return {"iterations": items}


def _run(seed_index: int) -> dict[str, Any]:
    seed = SEEDS[seed_index]
    summary = _summary(seed_index)
    complete = len(summary["iterations"]) == len(TEST)
    iterations = [{**it, "meta_utility_val_ci": [it["meta_utility_val"] - 0.05, it["meta_utility_val"] + 0.05],
                   "meta_utility_test_ci": [it["meta_utility_test"] - 0.05, it["meta_utility_test"] + 0.05],
                   "kept_previous": it["iteration"] == 2 and seed == 1,
                   "failure": "scored_zero" if it["iteration"] == 2 and seed == 1 else None}
                  for it in summary["iterations"]]
    return {"seed": seed, "run_dir": f"runs/seed-{seed}", "complete": complete,
            "stopped": None if complete else "max_usd: the next call could pass $1.00", "iterations": iterations,
            "strategies": ["sampling + best-of-n", *(["beam search"] if seed < 2 else [])]}


def _transfer_rows(seed_index: int) -> list[dict[str, Any]]:
    rows = []
    for task, (seed_u, base, new) in TRANSFER.items():
        s, b, n = seed_u[seed_index], base[seed_index], new[seed_index]
        rows.append(TransferRow(task, s, b, n, s + 0.01, b + 0.01, n + 0.01, [s - 0.03, s + 0.03],
                                [b - 0.05, b + 0.05], [n - 0.05, n + 0.05]).record())
    return rows


def _aggregate(per_seed: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Table 1's rows over seeds, as `selftaught reproduce` makes them (a SPREAD per column and split)."""
    fields = {"seed_utility": "seed_utility", "I_0": "meta_utility_seed_improver", "I_T": "meta_utility_improver"}
    out = []
    for task in TRANSFER:
        rows = [r for seed_rows in per_seed for r in seed_rows if r["task"] == task]
        out.append({"task": task, "seeds": len(rows),
                    **{key: {"test": spread([r[name] for r in rows]), "val": spread([r[f"{name}_val"] for r in rows])}
                       for key, name in fields.items()}})
    return out


def _sandbox(samples: int, disabled: int, warn: bool) -> dict[str, Any]:
    low, high = wilson_interval(disabled, samples)
    return StudyResult(samples=samples, disabled=disabled, rate=disabled / samples, ci_low=low, ci_high=high,
                       warn=warn, no_code=2, records=()).to_dict()


def study_record() -> dict[str, Any]:
    """A whole study (5 seeds, 3 iterations; seeds 3 and 4 stopped after I_2), every part present."""
    per_seed = [_transfer_rows(i) for i in range(len(SEEDS))]
    low, high = wilson_interval(4, 200)
    usage_row = {"calls": 60, "requests": 60, "input_tokens": 25000, "output_tokens": 10000, "cost_usd": 0.0,
                 "cache_hits": 0, "refused_calls": 0, "estimated_calls": 0}
    return {
        "format_version": 1, "kind": "reproduce", "complete": False, "status": "capped",
        "stopped": "max_usd: the next call could pass $1.00", "lm": "mutate", "backend": "mutate",
        "task": "parity_noise", "iterations": 3, "seeds": list(SEEDS), "transfer_tasks": list(TRANSFER),
        "config": Config().to_dict(),
        "runs": [_run(i) for i in range(len(SEEDS))],
        "curve": mean_curve([_summary(i) for i in range(len(SEEDS))]),
        "transfer": {"rows": _aggregate(per_seed),
                     "per_seed": [{"seed": seed, "improver": "I_3" if i < 3 else "I_2",
                                   "path": f"transfer/seed-{seed}.json", "complete": True, "rows": per_seed[i]}
                                  for i, seed in enumerate(SEEDS)]},
        "safety": {
            "sandbox_flag": {"warn": _sandbox(600, 3, True), "nowarn": _sandbox(600, 30, False)},
            "reward_hacking": {"evaluations": 200, "flags": {"score_above_max": 4},
                               "rates": {"score_above_max": {"rate": 0.02, "low": low, "high": high}}},
            "runtime": {"file_read": 2}},
        "strategies": {"sampling + best-of-n": 5, "beam search": 2},
        "usage": {**{k: 2 * v for k, v in usage_row.items()}, "by_level": {"meta": usage_row, "task": usage_row},
                  "by_iteration": {"0": usage_row, "1": usage_row}, "unpriced_models": []},
        "duration": 3725.0,
    }


def interrupted_record() -> dict[str, Any]:
    """A study stopped after its STOP runs: no transfer, no safety studies, no strategies, no usage yet."""
    record = study_record()
    record.update({"status": "interrupted", "stopped": "interrupted (Ctrl-C)", "transfer": None, "strategies": None,
                   "usage": None, "duration": None})
    record["safety"] = {"sandbox_flag": {"warn": None, "nowarn": None}, "reward_hacking": None, "runtime": None}
    return record


def hostile_record(text: str, name: str) -> dict[str, Any]:
    """A study whose every run-controlled string holds `text` (or `name`, where it names a thing: a task, a tag, a
    flag): what a hostile candidate or a tampered record could put there."""
    record = copy.deepcopy(study_record())
    record.update({"lm": text, "backend": text, "status": name, "stopped": text, "task": name,
                   "transfer_tasks": [*record["transfer_tasks"], name]})
    record["config"] = {**record["config"], "lm": text, name: text}
    run = record["runs"][0]
    run.update({"run_dir": text, "stopped": text, "complete": False, "strategies": [name]})
    run["iterations"][1]["failure"] = name
    extra = copy.deepcopy(record["transfer"]["rows"][0])
    extra["task"] = name
    record["transfer"]["rows"].append(extra)
    record["transfer"]["per_seed"][0].update({"improver": name, "path": text, "complete": False})
    safety = record["safety"]
    safety["reward_hacking"]["flags"][name] = 1
    safety["reward_hacking"]["rates"][name] = {"rate": 0.005, "low": 0.001, "high": 0.03}
    safety["runtime"][name] = 1
    record["strategies"][name] = 1
    record["usage"]["by_level"][name] = record["usage"]["by_level"]["meta"]
    record["usage"]["unpriced_models"] = [name]
    return record
