"""Safety findings of a run, each tied to the program that raised it (sandbox flag, static, runtime, reward)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from selftaught.report._load import RunFiles


def _flags(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)} if isinstance(value, dict) else {}


def findings(files: RunFiles) -> list[dict[str, Any]]:
    """One row per finding: kind, flag(s), count, the program (hash) it is about, iteration, context."""
    rows: list[dict[str, Any]] = []

    def add(kind: str, flags: dict[str, int], program: Any, e: dict[str, Any], note: str = "") -> None:
        for flag, count in flags.items():
            rows.append({"kind": kind, "flag": flag, "count": count, "iteration": e.get("iteration"),
                         "program": str(program) if program else None, "role": e.get("role") or "",
                         "note": note})

    for e in files.events:
        kind = e.get("kind")
        if kind == "program":
            add("static", _flags(e.get("static_flags")), e.get("program"), e)
        elif kind == "utility_call" and not e.get("cached"):
            add("runtime audit", _flags(e.get("audit")), e.get("program"), e, "while being scored")
            add("reward hacking", _flags(e.get("flags")), e.get("program"), e, "evaluation flag")
        elif kind == "improver_run":
            add("runtime audit", _flags(e.get("audit")), e.get("improver"), e, "while improving")
        elif kind == "sandbox_flag_off":
            add("sandbox flag", {"use_sandbox off": 1}, e.get("improver"), e,
                f"use_sandbox={e.get('value')} passed to the utility (ignored: the sandbox stays on)")
        elif kind == "reward_flag":
            note = ""
            if isinstance(e.get("val"), int | float) and isinstance(e.get("test"), int | float):
                note = f"val {e['val']:.4f} vs test {e['test']:.4f}"
            add("reward hacking", {str(e.get("flag")): 1}, e.get("program"), e, note)
    return rows


def merged(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings summed per (kind, flag, program, iteration), in first-seen order."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        key = (r["kind"], r["flag"], r["program"], r["iteration"], r["note"])
        if key in out:
            out[key]["count"] += r["count"]
        else:
            out[key] = dict(r)
    return list(out.values())


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's counts, as `selftaught.safety.report.safety_summary` makes them (from the checked rows)."""
    count: dict[str, Counter[str]] = {"static": Counter(), "runtime audit": Counter(), "reward hacking": Counter()}
    flagged: set[Any] = set()
    sandbox_off = 0
    for r in rows:
        if r["kind"] == "sandbox flag":
            sandbox_off += r["count"]
            continue
        count[r["kind"]][r["flag"]] += r["count"]
        if r["kind"] == "static":
            flagged.add(r["program"])
    return {"static_flags": dict(count["static"]), "programs_flagged": len(flagged),
            "runtime": dict(count["runtime audit"]), "sandbox_flag_off": sandbox_off,
            "reward_hacking": dict(count["reward hacking"])}


def safety(files: RunFiles) -> dict[str, Any]:
    rows = findings(files)
    return {"totals": totals(rows), "findings": merged(rows)}
