"""Number and label formatting shared by the HTML and Markdown renderers."""

from __future__ import annotations

from typing import Any

from selftaught.stop.compare import p_text

OUTCOME_NOTE = ("ok: scored without failure; a failure kind (exception, timeout, bad_output, protocol, budget, "
                "deadline, syntax, no_code, ...) names why an evaluation, or an instance, got the failure score")
STRATEGY_NOTE = ("strategy tags are heuristic: a static read of each improver's code (names, strings, the shape of "
                 "its LM calls), like the paper's section 5 reading by hand; they say what the code looks like, "
                 "not that it works")


TREE_NOTE = ("each node is a step's improver with its fresh val and test meta-utility; an edge joins it to the "
             "improver its step improved (in linear STOP the latest adopted one; in a population, --population, the "
             "one its --parent rule chose); hollow grey nodes are steps whose improver failed or was not adopted; "
             "the bold path leads from I_0 to the improver the run ends with")


#: The adoption gate's table: its columns, and what it shows (run --adopt better).
GATE_HEAD = ["step", "decision", "I_{t-1}", "I_t (candidate)", "I_t - I_{t-1}", "95% CI", "p (sign-flip)",
             "gate runs"]
GATE_NOTE = ("each step whose improver ran and scored above 0 was adopted only if, on fresh val downstream runs of "
             "both improvers (purpose gate/<t>, paired by run index and instance), the sign-flip test over the runs "
             "gave p < alpha and the difference's 95% nested-bootstrap interval lay above 0; otherwise I_{t-1} was "
             "kept. A step that failed before the gate keeps I_{t-1} as always")
ALWAYS_NOTE = ("this run adopted every improver that ran and scored above 0 (--adopt always, the paper's rule): "
               "no gate decided")


def gate_cells(decision: dict[str, Any]) -> dict[str, str]:
    """A gate decision's text cells (programs are linked by the renderers)."""
    d = decision["difference"]
    p = decision.get("p_value")
    return {"step": f"I_{decision['iteration']}", "decision": "adopted" if decision["adopted"] else "kept I_{t-1}",
            "difference": f"{d['mean']:+.4f}" if isinstance(d.get("mean"), int | float) else "-",
            "interval": f"{num(d.get('low'))} to {num(d.get('high'))}",
            "p": p_text(p) if isinstance(p, int | float) else "-",
            "runs": str(decision.get("gate_runs") or "-")}


def num(v: Any, places: int = 4) -> str:
    return f"{v:.{places}f}" if isinstance(v, int | float) and not isinstance(v, bool) else "-"


def interval(fig: dict[str, Any]) -> str:
    if not isinstance(fig.get("mean"), int | float):
        return "-"
    return f"{num(fig['low'])} to {num(fig['high'])}"


def hoeffding(fig: dict[str, Any]) -> str:
    return f"±{num(fig['hoeffding'], 3)}" if isinstance(fig.get("hoeffding"), int | float) else "-"


def runs_note(fig: dict[str, Any]) -> str:
    text = f"{fig['runs']} runs, {fig['instances']} instances"
    return text + (f", {fig['failed_runs']} failed" if fig.get("failed_runs") else "")


def columns(table: dict[str, dict[str, int]]) -> list[str]:
    """The purposes/levels of an outcome table, in a fixed order."""
    return sorted({c for row in table.values() for c in row})


def usage_cell(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if key == "cost_usd":
        return f"${v:.4f}" if isinstance(v, int | float) else "-"
    return str(v) if v is not None else "-"

#: The LM-usage columns the renderers show: (key in the usage record, column label).
USAGE_COLUMNS = (("calls", "calls"), ("samples", "samples"), ("requests", "requests"),
                 ("input_tokens", "input tokens"), ("output_tokens", "output tokens"), ("cost_usd", "dollars"),
                 ("cache_hits", "cache hits"), ("refused_calls", "refused"))


def with_ci(value: Any, bounds: Any) -> str:
    """A figure, with its interval `[low, high]` after it when there is one."""
    text = num(value)
    if isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int | float) for b in bounds):
        text += f" [{num(bounds[0])}, {num(bounds[1])}]"
    return text


def transfer_figures(row: dict[str, Any]) -> list[str]:
    """A transfer row's three figures (u(seed), I_0, the improver): test with its interval, val in parentheses."""
    return [f"{with_ci(row.get(key), row.get(f'{key}_ci'))} ({num(row.get(f'{key}_val'))})"
            for key in ("seed_utility", "meta_utility_seed_improver", "meta_utility_improver")]
