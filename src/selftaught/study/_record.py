"""`reproduce.json`: the study's figures gathered from its runs, transfer files and safety results (a pure read)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from selftaught.report._strategies import strategy_tags
from selftaught.safety.sandbox_flag import wilson_interval
from selftaught.stop.curves import mean_curve, spread
from selftaught.store import read_events
from selftaught.study._layout import FORMAT, StudyDir, StudyPlan, read_json

#: Table 1's columns: (the record's name, the transfer row's field for test; `_val` is appended for val).
COLUMNS = (("seed_utility", "seed_utility"), ("I_0", "meta_utility_seed_improver"), ("I_T", "meta_utility_improver"))


def run_entry(seed: int, summary: dict[str, Any], study: StudyDir) -> dict[str, Any]:
    """One seed's run as the study records it: its iterations and the strategy tags of its final improver."""
    run_dir = Path(str(summary.get("run_dir")))
    iterations = [{k: item.get(k) for k in ("iteration", "meta_utility_val", "meta_utility_test",
                                            "meta_utility_val_ci", "meta_utility_test_ci", "kept_previous",
                                            "failure")} for item in summary.get("iterations") or []]
    final = final_improver(run_dir, summary)
    try:
        relative = str(run_dir.relative_to(study.root))
    except ValueError:
        relative = str(run_dir)
    return {"seed": seed, "run_dir": relative, "complete": bool(summary.get("complete")),
            "stopped": summary.get("stopped"), "iterations": iterations,
            "strategies": strategy_tags(final[1]) if final is not None else []}


def final_improver(run_dir: Path, summary: dict[str, Any]) -> tuple[int, str] | None:
    """(T, program) of the run's last recorded improver I_T."""
    done = [int(item["iteration"]) for item in summary.get("iterations") or [] if "iteration" in item]
    if not done:
        return None
    t = max(done)
    try:
        return t, (run_dir / "improvers" / f"I_{t}.py").read_text(encoding="utf-8")
    except OSError:
        return None


def transfer_part(study: StudyDir, plan: StudyPlan) -> dict[str, Any] | None:
    """Table 1 over the seeds (each cell: its spread over the seeds' rows) and each seed's own rows."""
    per_seed: list[dict[str, Any]] = []
    for seed in plan.seeds:
        data = read_json(study.transfer_file(seed))
        if not isinstance(data, dict):
            continue
        improver = (data.get("invocation") or {}).get("improver") or ""
        per_seed.append({"seed": seed, "improver": Path(str(improver)).stem, "path": f"transfer/seed-{seed}.json",
                         "complete": bool(data.get("complete")), "rows": list(data.get("rows") or [])})
    if not per_seed:
        return None
    rows = []
    for task in plan.transfer_tasks:
        found = [row for entry in per_seed for row in entry["rows"] if row.get("task") == task]
        if not found:
            continue
        cells = {name: {"test": spread([float(r[field]) for r in found]),
                        "val": spread([float(r[f"{field}_val"]) for r in found])} for name, field in COLUMNS}
        rows.append({"task": task, "seeds": len(found), **cells})
    return {"rows": rows, "per_seed": per_seed}


def safety_part(study: StudyDir, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The sandbox-flag rates (with and without the warning), and the runs' reward-hacking and runtime flags.

    A reward-hacking rate is over the evaluations the runs asked for (utility calls, a repeat not counted again):
    the fraction of them that carry the flag on at least one instance, with its Wilson interval.
    """
    flag = {("warn" if warn else "nowarn"): _result(read_json(study.safety_file(warn))) for warn in (True, False)}
    flagged: Counter[str] = Counter()
    instances: Counter[str] = Counter()
    runtime: Counter[str] = Counter()
    evaluations = 0
    for summary in summaries:
        run = (summary.get("safety") or {}).get("run") or {}
        runtime.update({str(k): int(v) for k, v in (run.get("runtime") or {}).items()})
        try:
            events = list(read_events(Path(str(summary.get("run_dir")))))
        except OSError:
            continue
        for event in events:
            if event.get("kind") != "utility_call" or event.get("cached"):
                continue
            evaluations += 1
            for name, count in (event.get("flags") or {}).items():
                if isinstance(count, int) and count > 0:
                    flagged[str(name)] += 1
                    instances[str(name)] += count
    rates = {}
    for name, count in sorted(flagged.items()):
        low, high = wilson_interval(count, evaluations)
        rates[name] = {"rate": count / evaluations, "low": low, "high": high}
    return {"sandbox_flag": flag,
            "reward_hacking": {"evaluations": evaluations, "flags": dict(sorted(flagged.items())),
                               "instances": dict(sorted(instances.items())), "rates": rates},
            "runtime": dict(sorted(runtime.items()))}


def _result(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict) or not isinstance(data.get("samples"), int):
        return None
    return {k: v for k, v in data.items() if k != "records"}


def study_record(study: StudyDir, plan: StudyPlan, config: dict[str, Any], summaries: dict[int, dict[str, Any]],
                 *, status: str, stopped: str | None, duration: float, backend: str) -> dict[str, Any]:
    """The whole `reproduce.json` (format 1; see docs/reproduce.md)."""
    ordered = [summaries[seed] for seed in plan.seeds if seed in summaries]
    runs = [run_entry(seed, summaries[seed], study) for seed in plan.seeds if seed in summaries]
    strategies: Counter[str] = Counter(tag for run in runs for tag in run["strategies"])
    return {
        "format_version": FORMAT, "kind": "reproduce", "complete": status == "complete", "status": status,
        "stopped": stopped, "lm": config.get("lm"), "backend": backend, "task": plan.task,
        "iterations": plan.iterations, "seeds": list(plan.seeds), "transfer_tasks": list(plan.transfer_tasks),
        "sandbox_samples": plan.sandbox_samples, "config": config, "runs": runs, "curve": mean_curve(ordered),
        "transfer": transfer_part(study, plan), "safety": safety_part(study, ordered),
        "strategies": dict(strategies.most_common()), "usage": usage_part(study, plan, ordered),
        "duration": round(duration, 2),
    }


USAGE_KEYS = ("calls", "requests", "input_tokens", "output_tokens", "cost_usd", "cache_hits", "refused_calls")


def usage_part(study: StudyDir, plan: StudyPlan, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """LM usage of the study per part and in total, from what each part saved (a run's summary counts the whole run
    across its sessions; a transfer file the invocations that measured its rows; a safety file its study)."""
    parts = {"runs": [s.get("usage") for s in summaries],
             "transfer": [(read_json(study.transfer_file(seed)) or {}).get("usage") for seed in plan.seeds],
             "safety": [(read_json(study.safety_file(warn)) or {}).get("usage") for warn in (True, False)]}
    out: dict[str, Any] = {name: _sum(items) for name, items in parts.items()}
    out["total"] = _sum(list(out.values()))
    return out


def _sum(items: list[Any]) -> dict[str, Any]:
    total: dict[str, Any] = dict.fromkeys(USAGE_KEYS, 0)
    for item in items:
        if isinstance(item, dict):
            for key in USAGE_KEYS:
                value = item.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    total[key] += value
    total["cost_usd"] = round(float(total["cost_usd"]), 6)
    return total
