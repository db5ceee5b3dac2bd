"""Data extraction from a run's events and summary: iterations, lineage, LM usage, evaluation outcomes."""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from typing import Any

from selftaught.report._load import RunFiles
from selftaught.tasks import builtin_tasks

USAGE_KEYS = ("calls", "requests", "input_tokens", "output_tokens", "cost_usd", "cache_hits", "refused_calls")


def iteration_records(files: RunFiles) -> list[dict[str, Any]]:
    """Each iteration's record: summary.json's, else the `iteration` events' (an interrupted run's summary may lag)."""
    from_summary = [r for r in files.summary.get("iterations") or [] if isinstance(r, dict)]
    from_events = [{k: v for k, v in e.items() if k not in ("kind", "time")} for e in files.events
                   if e.get("kind") == "iteration"]
    records = from_events if len(from_events) > len(from_summary) else from_summary
    by_index: dict[int, dict[str, Any]] = {}
    for r in records:
        if isinstance(r.get("iteration"), int):
            by_index[r["iteration"]] = r
    return [by_index[i] for i in sorted(by_index)]


def failure_score(files: RunFiles) -> tuple[float, str | None]:
    """The task's failure score (what a failed downstream run counts), and a warning when it had to be guessed.

    Built-in tasks know theirs; for a task file (not run by the report) it is read off a recorded whole-program
    failure, whose score is the failure score.
    """
    task = files.manifest.get("task") if isinstance(files.manifest.get("task"), dict) else {}
    name = str((task or {}).get("name") or files.summary.get("task") or "")
    known = builtin_tasks().get(name)
    if known is not None:
        return float(known.failure_score), None
    for e in files.events:
        if e.get("kind") == "utility_call" and e.get("failure") and isinstance(e.get("score"), int | float):
            return float(e["score"]), None
    return 0.0, f"the failure score of task {name or '?'} is unknown: failed downstream runs are counted as 0"


def candidates(files: RunFiles) -> dict[int, dict[str, Any]]:
    """iteration -> the self-improvement step's `improver_run` (stream `stop/<t>`): what the step returned."""
    out: dict[int, dict[str, Any]] = {}
    for e in files.events:
        stream = e.get("stream")
        if e.get("kind") == "improver_run" and isinstance(stream, str) and stream.startswith("stop/"):
            tail = stream[5:]
            if tail.isdigit():
                out[int(tail)] = e
    return out


def unified_diff(parent: str | None, child: str | None, parent_name: str, child_name: str) -> list[str]:
    """Line by line (a missing newline at the end of a file is not a change)."""
    if parent is None or child is None:
        return []
    return list(difflib.unified_diff(parent.splitlines(), child.splitlines(), parent_name, child_name, n=2,
                                     lineterm=""))


def lineage(files: RunFiles, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each I_t: its code, a diff against its parent (the improver its step improved: I_{t-1} in linear STOP, or
    the latest adopted before it for a run that recorded no parent), accepted or kept, and why; the rejected
    candidate's hash."""
    steps = candidates(files)
    out: list[dict[str, Any]] = []
    codes: dict[int, str | None] = {}
    step_parents = parents(records)
    for r in records:
        t = int(r["iteration"])
        parent = step_parents[t]
        code = files.improver_file(t) or files.program(str(r.get("improver") or ""))
        codes[t] = code
        step = steps.get(t, {})
        kept = bool(r.get("kept_previous"))
        gate = r.get("gate") if isinstance(r.get("gate"), dict) else None
        candidate = (step.get("solution") or (gate or {}).get("candidate")) if kept else None
        if t == 0:
            status, reason = "seed", "the seed improver I_0"
        elif gate is not None:  # `--adopt better`: the gate decided (its line says how)
            status = "kept previous" if kept else "accepted"
            reason = str(gate.get("decision") or ("adopted by the gate" if not kept else "kept by the gate"))
        elif kept:
            status = "kept previous"
            reason = f"{r.get('failure') or 'failed'}: {r.get('detail') or 'the new improver failed'}"
        else:
            status, reason = "accepted", "the improved improver ran and scored above 0"
        out.append({
            "iteration": t, "improver": r.get("improver"), "status": status, "reason": reason, "gate": gate,
            "failure": r.get("failure"), "detail": r.get("detail") or "", "candidate": candidate,
            "code": code, "parent": parent,
            "diff": [] if parent is None else unified_diff(codes.get(parent), code, f"I_{parent}.py", f"I_{t}.py"),
        })
    return out


def parents(records: list[dict[str, Any]]) -> dict[int, int | None]:
    """Each step's parent, the step whose improver it improved: recorded, or (a run from before populations) the
    latest step before it that adopted an improver. `records` in step order, as `iteration_records` gives them."""
    out: dict[int, int | None] = {}
    adopted = 0
    for r in records:
        t = int(r["iteration"])
        recorded = r.get("parent")
        out[t] = None if t == 0 else (int(recorded) if isinstance(recorded, int) else adopted)
        if not r.get("kept_previous"):
            adopted = t
    return out


def tree(records: list[dict[str, Any]], final: int | None = None) -> list[dict[str, Any]]:
    """The lineage tree's nodes: each step with its parent (`parents`), its fresh val and test meta-utility,
    whether it failed (kept its parent, adding nothing), and whether it is on the adopted path: from the run's
    final improver (`final`, default the latest step that adopted one) up its parents to I_0."""
    step_parents = parents(records)
    nodes = [{"iteration": int(r["iteration"]), "parent": step_parents[int(r["iteration"])],
              "val": _score(r.get("meta_utility_val")), "test": _score(r.get("meta_utility_test")),
              "failed": bool(r.get("kept_previous")), "adopted": False,
              "why": _kind(r.get("failure")) if r.get("kept_previous") else None}
             for r in records]
    alive = [n["iteration"] for n in nodes if not n["failed"]]
    by_index = {n["iteration"]: n for n in nodes}
    end = final if final is not None else (alive[-1] if alive else None)
    while end is not None and end in by_index and not by_index[end]["adopted"]:
        by_index[end]["adopted"] = True
        end = by_index[end]["parent"]
    return nodes


def _score(value: Any) -> float | None:
    """A recorded score as a number, or None (a malformed record is shown as n/a, never trusted to be one)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _kind(failure: Any) -> str:
    """A failure kind as the tree shows it: a known kind's name (`no_code`, `scored_zero`...), never other text."""
    return failure if isinstance(failure, str) and re.fullmatch(r"[a-z_]{1,32}", failure) else "not adopted"


def gates(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each adoption-gate decision (`run --adopt better`): the step, both improvers, the decision and its figures."""
    out = []
    for r in records:
        gate = r.get("gate")
        if isinstance(gate, dict):
            difference = gate.get("difference") if isinstance(gate.get("difference"), dict) else {}
            out.append({"iteration": r["iteration"], "adopted": gate.get("adopted") is True,
                        "incumbent": gate.get("incumbent"), "candidate": gate.get("candidate"),
                        "p_value": gate.get("p_value"), "difference": difference, "gate_runs": gate.get("gate_runs"),
                        "alpha": gate.get("alpha"), "split": gate.get("split")})
    return out


def _usage_row(data: Any, samples: int | None) -> dict[str, Any]:
    data = data if isinstance(data, dict) else {}
    return {k: data.get(k, 0) for k in USAGE_KEYS} | {"samples": samples}


def _samples(files: RunFiles) -> tuple[Counter[str], Counter[str]]:
    """LM samples (replies asked for) from `lm_call` events: by level, by iteration."""
    by_level: Counter[str] = Counter()
    by_iteration: Counter[str] = Counter()
    for e in files.events:
        if e.get("kind") == "lm_call":
            n = len(e["samples"]) if isinstance(e.get("samples"), list) else 0
            by_level[str(e.get("level"))] += n
            by_iteration[str(e.get("iteration"))] += n
    return by_level, by_iteration


def usage(files: RunFiles) -> dict[str, Any]:
    """LM usage: totals, by level, by iteration (summary.json's), plus speculation when the run speculated.

    Samples are counted from `lm_call` events. Without a summary, calls and samples come from those events
    (tokens and dollars unknown there).
    """
    level_samples, iteration_samples = _samples(files)
    total_samples = sum(level_samples.values())
    u = files.summary.get("usage")
    if isinstance(u, dict):
        by_level: dict[str, Any] = u["by_level"] if isinstance(u.get("by_level"), dict) else {}
        by_iteration: dict[str, Any] = u["by_iteration"] if isinstance(u.get("by_iteration"), dict) else {}
        result: dict[str, Any] = {
            "source": "summary.json (samples: events.jsonl)",
            "total": _usage_row(u, total_samples),
            "by_level": {str(k): _usage_row(v, level_samples.get(str(k), 0)) for k, v in sorted(by_level.items())},
            "by_iteration": {str(k): _usage_row(v, iteration_samples.get(str(k), 0))
                             for k, v in sorted(by_iteration.items(), key=lambda kv: _num(str(kv[0])))},
        }
        if isinstance(u.get("speculation"), dict):
            result["speculation"] = u["speculation"]
        return result
    calls = Counter(str(e.get("iteration")) for e in files.events if e.get("kind") == "lm_call")
    levels = Counter(str(e.get("level")) for e in files.events if e.get("kind") == "lm_call")
    return {"source": "events.jsonl (calls and samples only: summary.json is missing)",
            "total": {"calls": sum(calls.values()), "samples": total_samples},
            "by_level": {k: {"calls": v, "samples": level_samples[k]} for k, v in sorted(levels.items())},
            "by_iteration": {k: {"calls": v, "samples": iteration_samples[k]}
                             for k, v in sorted(calls.items(), key=lambda kv: _num(kv[0]))}}


def _num(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def outcomes(files: RunFiles) -> dict[str, Any]:
    """Evaluations (uncached `utility_call`s) by outcome and purpose; instances by outcome; improver runs by outcome."""
    evaluations: dict[str, Counter[str]] = {}
    instances: dict[str, Counter[str]] = {}
    runs: dict[str, Counter[str]] = {}
    cached = 0
    for e in files.events:
        kind = e.get("kind")
        purpose = str(e.get("purpose") or e.get("level") or "other")
        if kind == "utility_call":
            if e.get("cached"):
                cached += 1
                continue
            failures = e.get("failures") if isinstance(e.get("failures"), dict) else {}
            outcome = str(e.get("failure") or ("ok" if not failures else "ok (some instances failed)"))
            evaluations.setdefault(outcome, Counter())[purpose] += 1
            n: int = e["instances"] if isinstance(e.get("instances"), int) else 0
            failed = 0
            for name, count in (failures or {}).items():
                if isinstance(count, int):
                    instances.setdefault(str(name), Counter())[purpose] += count
                    failed += count
            if n - failed > 0:
                instances.setdefault("ok", Counter())[purpose] += n - failed
        elif kind == "improver_run":
            stream = str(e.get("stream") or "")
            level = stream.split("/", 1)[0] if "/" in stream else str(e.get("level") or "other")
            runs.setdefault(str(e.get("failure") or "ok"), Counter())[level] += 1

    def plain(table: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
        order = sorted(table, key=lambda k: (not k.startswith("ok"), k))
        return {k: dict(sorted(table[k].items())) for k in order}

    return {"evaluations": plain(evaluations), "instances": plain(instances), "improver_runs": plain(runs),
            "cached_evaluations": cached}
