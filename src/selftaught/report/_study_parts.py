"""The study report's smaller parts: safety studies, strategy tags, LM usage, and what the study is missing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selftaught.report import _study_check as check
from selftaught.report._coverage import Estimate, compare
from selftaught.report._paper import SANDBOX_PROMPTS, PaperNumbers

USAGE_KEYS = ("calls", "samples", "requests", "input_tokens", "output_tokens", "cost_usd", "cache_hits",
              "refused_calls")


def _sandbox(value: Any, path: str, paper: PaperNumbers, prompt: str) -> dict[str, Any]:
    data = check.mapping(value, path)
    number = paper.sandbox[prompt]
    if data is None:
        return {"run": False, "paper": number.record(), "comparison": compare(None, number).record()}
    out: dict[str, Any] = {k: check.integer(data.get(k), f"{path}.{k}") for k in ("samples", "disabled", "no_code")}
    out |= {k: check.number(data.get(k), f"{path}.{k}") for k in ("rate", "ci_low", "ci_high")}
    out["flagged"] = check.counts(data.get("flagged"), f"{path}.flagged") or {}
    ours = Estimate(out["rate"], out["ci_low"], out["ci_high"]) if out["rate"] is not None else None
    return {"run": True, **out, "paper": number.record(), "comparison": compare(ours, number).record()}


def _reward_hacking(value: Any) -> dict[str, Any] | None:
    data = check.mapping(value, "safety.reward_hacking")
    if data is None:
        return None
    flags = check.counts(data.get("flags"), "safety.reward_hacking.flags") or {}
    rates = check.mapping(data.get("rates"), "safety.reward_hacking.rates") or {}
    rows = []
    for name in sorted(set(flags) | {str(k) for k in rates}):
        where = f"safety.reward_hacking.rates[{name!r}]"
        rate = check.mapping(rates.get(name), where) or {}
        rows.append({"flag": name, "count": flags.get(name),
                     **{k: check.number(rate.get(k), f"{where}.{k}") for k in ("rate", "low", "high")}})
    return {"evaluations": check.integer(data.get("evaluations"), "safety.reward_hacking.evaluations"), "rows": rows}


def safety(record: Mapping[str, Any], paper: PaperNumbers) -> dict[str, Any]:
    """The sandbox-flag study (both prompts) beside the paper's rates; reward-hacking flag rates; runtime flags."""
    data = check.mapping(record.get("safety"), "safety") or {}
    flag = check.mapping(data.get("sandbox_flag"), "safety.sandbox_flag") or {}
    return {
        "sandbox": {p: _sandbox(flag.get(p), f"safety.sandbox_flag.{p}", paper, p) for p in SANDBOX_PROMPTS},
        "sandbox_source": paper.sandbox_source, "sandbox_statement": paper.sandbox_statement,
        "sandbox_note": paper.sandbox_note, "sandbox_samples": paper.sandbox_samples,
        "reward_hacking": _reward_hacking(data.get("reward_hacking")),
        "reward_hacking_paper": paper.reward_hacking, "reward_hacking_source": paper.reward_hacking_source,
        "runtime": check.counts(data.get("runtime"), "safety.runtime"),
    }


def strategies(record: Mapping[str, Any], paper: PaperNumbers) -> dict[str, Any]:
    """Tag counts over the seeds' final improvers; every tag the paper names is listed, found or not."""
    found = check.counts(record.get("strategies"), "strategies")
    named = {s.tag: s.paper for s in paper.strategies}
    rows = []
    if found is not None:
        order = sorted(found, key=lambda tag: (-found[tag], tag))
        rows = [{"tag": tag, "count": found[tag], "paper": named.get(tag)} for tag in order]
        rows += [{"tag": tag, "count": 0, "paper": words} for tag, words in named.items() if tag not in found]
    return {"run": found is not None, "rows": rows, "source": paper.strategies_source}


#: The parts of a study `reproduce.json` counts usage for, beside its `total`.
USAGE_PARTS = ("runs", "transfer", "safety")


def usage(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """LM usage: the totals, and by part (runs, transfer, safety: `reproduce.json`'s shape) or by level (a usage
    report's shape) when the record has them."""
    data = check.mapping(record.get("usage"), "usage")
    if data is None:
        return None
    if isinstance(data.get("total"), Mapping):  # the study's shape: {"runs": {...}, ..., "total": {...}}
        parts = {name: check.mapping(data.get(name), f"usage.{name}") or {} for name in ("total", *USAGE_PARTS)
                 if name in data}
        rows = {name: {k: check.number(part.get(k), f"usage.{name}.{k}") for k in USAGE_KEYS}
                for name, part in parts.items()}
        total = rows.pop("total")
        return {"total": total, "by_level": rows, "unpriced_models": []}
    total = {k: check.number(data.get(k), f"usage.{k}") for k in USAGE_KEYS}
    by_level = {}
    for level, row in (check.mapping(data.get("by_level"), "usage.by_level") or {}).items():
        part = check.mapping(row, f"usage.by_level[{level!r}]") or {}
        by_level[str(level)] = {k: check.number(part.get(k), f"usage.by_level[{level!r}].{k}") for k in USAGE_KEYS}
    unpriced = [check.text(m, "usage.unpriced_models") or ""
                for m in check.items(data.get("unpriced_models"), "usage.unpriced_models")]
    return {"total": total, "by_level": by_level, "unpriced_models": unpriced}


def missing_parts(content: dict[str, Any]) -> list[str]:
    """What the study lacks, one line each: an unfinished study, seeds without a run or stopped early, a curve over
    fewer seeds, transfer tasks not measured, studies not run."""
    study = content["study"]
    out: list[str] = []
    if not study["complete"]:
        out.append(f"the study did not complete (status: {study['status'] or 'unknown'}"
                   + (f"; stopped: {study['stopped']}" if study["stopped"] else "") + ")")
    ran = {run["seed"] for run in content["runs"]}
    out += [f"seed {seed}: no STOP run" for seed in study["seeds"] if seed not in ran]
    planned = study["iterations"]
    for run in content["runs"]:
        if not run["complete"]:
            reached = "no iteration" if run["reached"] is None else f"I_{run['reached']}"
            out.append(f"seed {run['seed']}: its run stopped at {reached}"
                       + (f" of I_{planned}" if isinstance(planned, int) else "")
                       + (f" ({run['stopped']})" if run["stopped"] else ""))
    seeds = len(study["seeds"])
    if not content["curve"]["rows"]:
        out.append("the meta-utility curve: not run")
    for row in content["curve"]["rows"]:
        n = max((row[s]["n"] or 0) if row[s] else 0 for s in ("val", "test"))
        if n == 0:
            out.append(f"I_{row['iteration']}: no meta-utility (not run)")
        elif seeds and n < seeds:
            out.append(f"I_{row['iteration']}: meta-utility over {n} of {seeds} seeds")
    transfer = content["transfer"]
    if not transfer["run"]:
        out.append("transfer: not run")
    else:
        out += [f"transfer to {task}: not run" for task in study["transfer_tasks"] if task not in transfer["measured"]]
        out += [f"transfer of seed {s['seed']}'s improvers: incomplete" for s in transfer["per_seed"]
                if not s["complete"]]
    sandbox = content["safety"]["sandbox"]
    out += [f"sandbox-flag study {'with' if p == 'warn' else 'without'} the warning: not run"
            for p in ("warn", "nowarn") if not sandbox[p]["run"]]
    if content["safety"]["reward_hacking"] is None:
        out.append("reward-hacking flag rates: not run")
    if not content["strategies"]["run"]:
        out.append("strategy tags of the final improvers: not run")
    if content["usage"] is None:
        out.append("LM usage: not recorded")
    return out
