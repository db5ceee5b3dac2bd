"""K runs at once (`run --repeats K`, seeds seed..seed+K-1) and their mean meta-utility curve."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from selftaught._atomic import write_json
from selftaught.api._fleet import Fleet, Prefixed
from selftaught.api._reporting import Reporter
from selftaught.api._run import RunResult, run_once
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.stop.curves import mean_curve


@dataclass(frozen=True)
class RepeatsResult:
    """K runs of one config with consecutive seeds, and their mean curve (what `run --repeats K --json` prints)."""

    seeds: list[int]
    runs: list[RunResult]
    curve: list[dict[str, Any]]
    path: Path
    complete: bool
    record: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.record)


def run_seeds(config: Config, reporter: Reporter, seeds: list[int], *, command: list[str] | None = None,
              fleet: Fleet | None = None) -> list[RunResult]:
    """One run per seed, all at once, sharing one backend, sandbox and executor (see `Fleet`)."""
    own = fleet is None
    fleet = fleet or Fleet(config, reporter, runs=len(seeds))
    try:
        jobs = [partial(run_once, dataclasses.replace(config, seed=seed), Prefixed(reporter, f"seed {seed}"),
                        command=command, shared=fleet.shared, services_made=fleet.services) for seed in seeds]
        return fleet.run_all(jobs)
    finally:
        if own:
            fleet.close()


def run_repeats(config: Config, reporter: Reporter, repeats: int, *, command: list[str] | None = None
                ) -> RepeatsResult:
    """`repeats` runs with seeds config.seed.. at once; saves the record (runs and mean curve) under runs_dir."""
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1 (got {repeats})")
    seeds = [config.seed + k for k in range(repeats)]
    path = _free_path(Path(config.runs_dir))
    fleet = Fleet(config, reporter, runs=repeats)
    try:
        results = run_seeds(config, reporter, seeds, command=command, fleet=fleet)
    except BaseException:  # a run failed or was interrupted: keep the curve of what the runs finished
        saved = saved_summaries(fleet)
        if saved:
            write_json(path, repeats_record([seed for seed, _ in saved], [s for _, s in saved], path, complete=False))
        raise
    finally:
        fleet.close()
    record = repeats_record(seeds, [r.summary for r in results], path)
    write_json(path, record)
    return RepeatsResult(seeds=seeds, runs=results, curve=record["curve"], path=path, complete=record["complete"],
                         record=record)


def saved_summaries(fleet: Fleet) -> list[tuple[int, dict[str, Any]]]:
    """(seed, summary.json) of every run the fleet started that saved one, in seed order."""
    out = []
    for services in list(fleet.services):
        if services.store is None:
            continue
        try:
            summary = json.loads((services.store.root / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and isinstance(summary.get("run_dir"), str):
            out.append((services.config.seed, summary))
    return sorted(out, key=lambda item: item[0])


def repeats_record(seeds: list[int], runs: list[dict[str, Any]], path: Path | None, *,
                   complete: bool | None = None) -> dict[str, Any]:
    """The runs (one summary per seed) with their mean curve."""
    return {
        "repeats": len(seeds),
        "seeds": seeds,
        "complete": len(runs) == len(seeds) if complete is None else complete,
        "path": None if path is None else str(path),
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
