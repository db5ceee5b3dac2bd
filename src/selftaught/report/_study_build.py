"""The study report's content, as plain data, from a reproduce.json record: every figure beside the paper's number."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from selftaught.report import _study_check as check
from selftaught.report._coverage import Estimate, compare
from selftaught.report._paper import TRANSFER_COLUMNS, PaperNumber, PaperNumbers, load_paper
from selftaught.report._study_parts import missing_parts, safety, strategies, usage

SPLITS = ("val", "test")
OFFLINE_LMS = ("mutate", "scripted")
MAX_ROWS = 1000  # iterations shown at most (a record asking for more is shown up to its curve's last iteration)


def estimate(fig: Mapping[str, Any] | None) -> Estimate | None:
    """A SPREAD over seeds as an Estimate: no interval over fewer than two seeds."""
    if fig is None:
        return None
    n = fig.get("n")
    if isinstance(n, int) and n < 2:
        return Estimate(fig["mean"], None, None, f"{n} seed: no interval over seeds")
    return Estimate(fig["mean"], fig.get("low"), fig.get("high"), "no interval over seeds")


def _verdict(ours: Estimate | None, paper: PaperNumber | None, not_comparable: str | None = None) -> dict[str, Any]:
    if paper is None:
        return {"paper": None, "comparison": None}
    if not_comparable:
        paper = replace(paper, not_comparable=not_comparable)
    return {"paper": paper.record(), "comparison": compare(ours, paper).record()}


def _study(record: Mapping[str, Any]) -> dict[str, Any]:
    config = check.mapping(record.get("config"), "config") or {}
    seeds = [check.text(s, f"seeds[{i}]") or "?" for i, s in enumerate(check.items(record.get("seeds"), "seeds"))]
    tasks = [check.text(t, f"transfer_tasks[{i}]") or "?"
             for i, t in enumerate(check.items(record.get("transfer_tasks"), "transfer_tasks"))]
    lm = check.text(record.get("lm"), "lm")
    return {
        "status": check.text(record.get("status"), "status"), "complete": bool(check.flag(record.get("complete"),
                                                                                           "complete")),
        "stopped": check.text(record.get("stopped"), "stopped"), "lm": lm,
        "backend": check.text(record.get("backend"), "backend"), "task": check.text(record.get("task"), "task"),
        "iterations": check.integer(record.get("iterations"), "iterations"), "seeds": seeds, "transfer_tasks": tasks,
        "duration": check.number(record.get("duration"), "duration"), "format_version": record.get("format_version"),
        "config": {str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
                   for k, v in config.items()},
        "offline": (lm or "").split(":", 1)[0] in OFFLINE_LMS,
    }


def _run(value: Any, path: str) -> dict[str, Any]:
    run = check.mapping(value, path) or {}
    iterations: list[dict[str, Any]] = []
    for j, item in enumerate(check.items(run.get("iterations"), f"{path}.iterations")):
        it = check.mapping(item, f"{path}.iterations[{j}]") or {}
        where = f"{path}.iterations[{j}]"
        entry: dict[str, Any] = {
            "iteration": check.integer(it.get("iteration"), f"{where}.iteration"),
            **{split: check.number(it.get(f"meta_utility_{split}"), f"{where}.meta_utility_{split}")
               for split in SPLITS},
            **{f"{split}_ci": check.pair(it.get(f"meta_utility_{split}_ci"), f"{where}.meta_utility_{split}_ci")
               for split in SPLITS},
            "kept_previous": bool(check.flag(it.get("kept_previous"), f"{where}.kept_previous")),
            "failure": check.text(it.get("failure"), f"{where}.failure"),
        }
        iterations.append(entry)
    tags = [check.text(s, f"{path}.strategies[{k}]") or ""
            for k, s in enumerate(check.items(run.get("strategies"), f"{path}.strategies"))]
    reached = [it["iteration"] for it in iterations if isinstance(it["iteration"], int)]
    return {"seed": check.text(run.get("seed"), f"{path}.seed"), "run_dir": check.text(run.get("run_dir"),
                                                                                        f"{path}.run_dir"),
            "complete": bool(check.flag(run.get("complete"), f"{path}.complete")),
            "stopped": check.text(run.get("stopped"), f"{path}.stopped"), "iterations": iterations,
            "reached": max(reached) if reached else None, "strategies": tags,
            "first": iterations[0] if iterations else None, "last": iterations[-1] if iterations else None,
            "kept": sum(it["kept_previous"] for it in iterations),
            "failures": [f"I_{it['iteration']}: {it['failure']}" for it in iterations if it["failure"]]}


def _curve(record: Mapping[str, Any], paper: PaperNumbers, study: dict[str, Any]) -> dict[str, Any]:
    points: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(check.items(record.get("curve"), "curve")):
        point = check.mapping(item, f"curve[{i}]") or {}
        t = check.integer(point.get("iteration"), f"curve[{i}].iteration")
        if t is not None:
            points[t] = {split: check.spread(point.get(split), f"curve[{i}].{split}") for split in SPLITS}
    planned = study["iterations"] if isinstance(study["iterations"], int) and study["iterations"] < MAX_ROWS else -1
    last = max([planned, *points]) if points or planned >= 0 else -1
    other_task = None
    if study["task"] and study["task"] != paper.curve_task:
        other_task = f"the paper's curve is on {paper.curve_task}; this study ran on {study['task']}"
    rows = []
    for t in range(last + 1):
        fig = points.get(t, {split: None for split in SPLITS})
        row: dict[str, Any] = {"iteration": t, **fig}
        for split in SPLITS:
            on_paper = paper.curve.get(t) if split == paper.curve_split else None
            row[f"{split}_paper"] = _verdict(estimate(fig[split]), on_paper, other_task)
        rows.append(row)
    return {"rows": rows, "split": paper.curve_split, "task": paper.curve_task, "source": paper.curve_source,
            "note": paper.curve_note}


def _transfer(record: Mapping[str, Any], paper: PaperNumbers) -> dict[str, Any]:
    data = check.mapping(record.get("transfer"), "transfer")
    ours: dict[str, dict[str, Any]] = {}
    per_seed = []
    if data is not None:
        for i, item in enumerate(check.items(data.get("rows"), "transfer.rows")):
            row = check.mapping(item, f"transfer.rows[{i}]") or {}
            task = check.text(row.get("task"), f"transfer.rows[{i}].task") or "?"
            cells = {}
            for key in TRANSFER_COLUMNS:
                col = check.mapping(row.get(key), f"transfer.rows[{i}].{key}") or {}
                cells[key] = {s: check.spread(col.get(s), f"transfer.rows[{i}].{key}.{s}") for s in SPLITS}
            ours[task] = {"seeds": check.integer(row.get("seeds"), f"transfer.rows[{i}].seeds"), "cells": cells}
        for i, item in enumerate(check.items(data.get("per_seed"), "transfer.per_seed")):
            one = check.mapping(item, f"transfer.per_seed[{i}]") or {}
            where = f"transfer.per_seed[{i}]"
            per_seed.append({"seed": check.text(one.get("seed"), f"{where}.seed"),
                             "improver": check.text(one.get("improver"), f"{where}.improver"),
                             "path": check.text(one.get("path"), f"{where}.path"),
                             "complete": bool(check.flag(one.get("complete"), f"{where}.complete")),
                             "tasks": len(check.items(one.get("rows"), f"{where}.rows"))})
    empty = {key: {s: None for s in SPLITS} for key in TRANSFER_COLUMNS}
    rows = []
    for paper_row in paper.transfer:
        mine = ours.get(paper_row.task, {"seeds": None, "cells": empty})
        rows.append({"task": paper_row.task, "paper_name": paper_row.paper_name, "seeds": mine["seeds"],
                     "cells": {key: {**mine["cells"][key],
                                     **_verdict(estimate(mine["cells"][key]["test"]), paper_row.cells[key])}
                               for key in TRANSFER_COLUMNS}})
    for task, mine in ours.items():
        if paper.transfer_row(task) is None:
            rows.append({"task": task, "paper_name": None, "seeds": mine["seeds"],
                         "cells": {key: {**mine["cells"][key], "paper": None, "comparison": None}
                                   for key in TRANSFER_COLUMNS}})
    return {"run": data is not None, "rows": rows, "per_seed": per_seed, "measured": sorted(ours),
            "source": paper.transfer_source, "note": paper.transfer_note}


def study_content(record: Mapping[str, Any], paper: PaperNumbers | None = None) -> dict[str, Any]:
    """Everything the study report shows, as plain data (the renderers only format it). Raises UserError (one line)
    for a record that is not a study's or has a mistyped part; a missing or null part is reported as not run."""
    record = check.check_header(record)
    numbers = paper if paper is not None else load_paper()
    study = _study(record)
    runs = [_run(r, f"runs[{i}]") for i, r in enumerate(check.items(record.get("runs"), "runs"))]
    content: dict[str, Any] = {
        "study": study, "runs": runs, "curve": _curve(record, numbers, study),
        "transfer": _transfer(record, numbers), "safety": safety(record, numbers),
        "strategies": strategies(record, numbers), "usage": usage(record),
        "paper": {"citation": dict(numbers.citation), "sources": numbers.sources()},
    }
    content["missing"] = missing_parts(content)
    return content
