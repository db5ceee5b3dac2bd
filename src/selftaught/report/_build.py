"""Assembles a run's report data (figures, lineage, usage, outcomes, safety, transfer) from its directory."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from selftaught.report import _extract, _figures
from selftaught.report._load import RunFiles, load_run, read_json_file
from selftaught.report._safety import safety
from selftaught.report._strategies import strategy_tags
from selftaught.stats import LEVEL, RESAMPLES

TRANSFER_FILE = "transfer.json"  # picked up from the run directory when --transfer is not given


def _figures_of(files: RunFiles, records: list[dict[str, Any]], fail: float) -> list[dict[str, Any]]:
    measured = _figures.measure_runs(files.events, fail)
    rows = []
    for r in records:
        digest = str(r.get("improver") or "")
        splits = measured.get(digest, {})
        row: dict[str, Any] = {"iteration": r["iteration"], "improver": digest,
                               "kept_previous": bool(r.get("kept_previous")),
                               "selection_score": r.get("selection_score")}
        for split in _figures.SPLITS:
            fig = _figures.figure(splits.get(split, []), seed=0)
            recorded = r.get(f"meta_utility_{split}")
            row[split] = fig.record()
            row[f"recorded_{split}"] = recorded
            if fig.mean is not None and isinstance(recorded, int | float) and not math.isclose(
                    fig.mean, recorded, rel_tol=0, abs_tol=1e-9):
                files.warnings.append(f"I_{r['iteration']} {split}: the recomputed meta-utility {fig.mean:.6f} differs "
                                      f"from the recorded {recorded:.6f} (events incomplete?)")
        rows.append(row)
    return rows


def _transfer(files: RunFiles, transfer_file: Path | None) -> dict[str, Any] | None:
    path = transfer_file if transfer_file is not None else files.root / TRANSFER_FILE
    if transfer_file is None and not path.exists():
        return None
    warnings: list[str] = []
    data = read_json_file(path, f"transfer results {path}", warnings)
    files.warnings.extend(warnings)
    if data is None:
        return None
    rows = [r for r in data.get("rows") or [] if isinstance(r, dict)]
    if not rows:
        files.warnings.append(f"transfer results {path} hold no rows (expected `selftaught transfer --json` output)")
        return None
    return {"source": str(path), "improver": data.get("improver"), "rows": rows}


def _final(files: RunFiles) -> int | None:
    """The step a population run ends with (its summary says), else None: the latest adopted (linear STOP)."""
    population = files.summary.get("population")
    final = population.get("final") if isinstance(population, dict) else None
    return final if isinstance(final, int) and not isinstance(final, bool) else None


def build_report(run_dir: Path, transfer_file: Path | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (the renderers only format it)."""
    files = load_run(run_dir)
    records = _extract.iteration_records(files)
    fail, note = _extract.failure_score(files)
    if note:
        files.warnings.append(note)
    figures = _figures_of(files, records, fail)
    lineage = _extract.lineage(files, records)
    for step in lineage:
        step["strategies"] = strategy_tags(step["code"]) if step["code"] is not None else []
    found = safety(files)
    linked = {f["program"] for f in found["findings"] if f["program"]}
    linked |= {step["candidate"] for step in lineage if step.get("candidate")}
    programs = {d: files.program(d) for d in sorted(linked)}
    task = files.manifest.get("task") if isinstance(files.manifest.get("task"), dict) else {}
    config = files.manifest.get("config") if isinstance(files.manifest.get("config"), dict) else {}
    return {
        "run": {
            "dir": str(run_dir), "task": (task or {}).get("name") or files.summary.get("task"),
            "format_version": files.manifest.get("format_version"), "seed": files.manifest.get("seed"),
            "lm": (config or {}).get("lm"), "complete": bool(files.summary.get("complete")),
            "stopped": files.summary.get("stopped"), "config": config or {},
            "failure_score": fail, "sandbox": files.summary.get("sandbox") or files.manifest.get("sandbox"),
        },
        "intervals": {"method": "nested bootstrap over downstream runs and their instances", "level": LEVEL,
                      "resamples": RESAMPLES, "seed": 0,
                      "hoeffding": "half-width for values in [0, 1], n = downstream runs"},
        "figures": figures,
        "lineage": lineage,
        "tree": _extract.tree(records, _final(files)),
        "gates": {"adopt": (config or {}).get("adopt") or "always", "decisions": _extract.gates(records)},
        "usage": _extract.usage(files),
        "outcomes": _extract.outcomes(files),
        "safety": found,
        "programs": programs,
        "transfer": _transfer(files, transfer_file),
        "warnings": files.warnings,
    }


def report_json(report: dict[str, Any]) -> dict[str, Any]:
    """The report's data without program texts and diffs (hashes stay): what `--json` prints."""
    lineage = [{k: v for k, v in step.items() if k not in ("code", "diff")} | {"diff_lines": len(step["diff"])}
               for step in report["lineage"]]
    return {k: v for k, v in report.items() if k != "programs"} | {"lineage": lineage,
                                                                   "programs": sorted(report["programs"])}
