"""`selftaught run --repeats K`: K independent runs (seeds seed..seed+K-1) and their mean meta-utility curve."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selftaught.cli._common import config_from, emit
from selftaught.errors import UserError
from selftaught.stop.curves import SPLITS, mean_curve

RunOne = Callable[[argparse.Namespace], int]


def handle(args: argparse.Namespace, run_one: RunOne) -> int:
    """Runs `run_one` (one `selftaught run`) K times with consecutive seeds; reports and saves the mean curve."""
    repeats = int(args.repeats)
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1 (got {repeats})")
    config = config_from(args)
    runs_dir = Path(config.runs_dir)
    seeds = [config.seed + k for k in range(repeats)]
    path = _free_path(runs_dir)
    runs: list[dict[str, Any]] = []
    tables: list[str] = []

    def collect(summary: dict[str, Any], lines: list[str]) -> None:
        runs.append(summary)
        tables.append("\n".join(lines))

    record: dict[str, Any] = {}
    try:
        for seed in seeds:
            one = argparse.Namespace(**{**vars(args), "seed": seed, "repeats": 1, "on_summary": collect})
            run_one(one)
            record = _record(seeds, runs, path, complete=len(runs) == repeats)
            _write(path, record)
    finally:
        if runs and len(runs) < repeats:  # a run failed or was interrupted: keep the curve of those finished
            _write(path, _record(seeds, runs, path, complete=False))
    emit(args.json, record, "\n\n".join([*tables, _table(record)]))
    return 0


def _record(seeds: list[int], runs: list[dict[str, Any]], path: Path, *, complete: bool) -> dict[str, Any]:
    return {
        "repeats": len(seeds),
        "seeds": seeds,
        "complete": complete,
        "path": str(path),
        "runs": [{"run_dir": s["run_dir"], "seed": seed, "complete": s.get("complete"), "stopped": s.get("stopped"),
                  "iterations": [{"iteration": i["iteration"], "meta_utility_val": i["meta_utility_val"],
                                  "meta_utility_test": i["meta_utility_test"]} for i in s.get("iterations", [])]}
                 for seed, s in zip(seeds, runs, strict=False)],
        "curve": mean_curve(runs),
    }


def _free_path(runs_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        path = runs_dir / (f"repeats-{stamp}" + (f"-{i}" if i else "") + ".json")
        if not path.exists():
            return path
    raise UserError(f"cannot find a free repeats file name under {runs_dir}")


def _write(path: Path, record: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def _table(record: dict[str, Any]) -> str:
    seeds = record["seeds"]
    lines = [f"mean over {len(record['runs'])} runs (seeds {seeds[0]}..{seeds[-1]}): meta-utility per iteration, "
             "95% bootstrap interval over the runs, std, min..max",
             f"{'iteration':<10} " + "  ".join(f"{split + ' mean [95%]':>24} {'std':>6} {'min..max':>13}"
                                                for split in SPLITS) + f" {'runs':>5}"]
    for point in record["curve"]:
        cells = [f"{p['mean']:>7.4f} [{p['low']:.4f}, {p['high']:.4f}] {p['std']:>6.4f} {p['min']:.4f}..{p['max']:.4f}"
                 for p in (point[split] for split in SPLITS)]
        lines.append(f"I_{point['iteration']:<8} " + "  ".join(cells) + f" {point['val']['n']:>5}")
    lines.append(f"runs: {', '.join(r['run_dir'] for r in record['runs'])}")
    lines.append(f"saved: {record['path']}")
    return "\n".join(lines)
