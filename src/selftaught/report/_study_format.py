"""Text of the study report's cells (percentages, intervals, verdicts, notes), shared by the HTML and Markdown."""

from __future__ import annotations

from typing import Any

NOT_RUN = "not run"
COLUMNS = {"seed_utility": "u(s)", "I_0": "I_0", "I_T": "I_T"}
COVERAGE_RULE = ("covered when the figure's 95% interval over seeds (a Wilson interval for the sandbox rates) meets "
                 "the paper's number give or take its rounding (half a unit of its last digit) or, for a number "
                 "read off a figure, its read-off uncertainty; not comparable: the paper's number does not measure "
                 "what ours does (the reason is given), we have no figure (not run) or no interval (one seed)")
SEEDS_NOTE = ("Intervals over seeds are percentile bootstraps of the seeds' figures (95%); with a handful of seeds "
              "they are optimistic: they cannot show variation the seeds did not")
OFFLINE_NOTE = ("This study ran on an offline backend ({lm}): no language model was involved, so its figures check "
                "the machinery, not a model; the paper's are GPT-4's")
MODEL_NOTE = "The paper's figures are GPT-4's; this study's LM is {lm}"


def pct(value: Any, places: int = 1) -> str:
    """A fraction as a percentage (`0.6123` -> `61.2%`), `-` for none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{100 * value:.{places}f}%"


def figure(fig: dict[str, Any] | None, places: int = 1) -> str:
    """A figure over seeds: mean and its interval, `61.2% [58.0, 64.1]`; `not run` when there is none."""
    if not fig:
        return NOT_RUN
    text = pct(fig.get("mean"), places)
    if isinstance(fig.get("low"), int | float) and isinstance(fig.get("high"), int | float) and (fig.get("n") or 2) > 1:
        text += f" [{100 * fig['low']:.{places}f}, {100 * fig['high']:.{places}f}]"
    return text


def seeds_of(fig: dict[str, Any] | None) -> str:
    return str(fig["n"]) if fig and isinstance(fig.get("n"), int) else "-"


def test_val(cell: dict[str, Any]) -> tuple[str, str]:
    """A Table 1 cell: test with its interval, and val (in parentheses); (`not run`, ``) when there is neither."""
    if not cell.get("test") and not cell.get("val"):
        return NOT_RUN, ""
    return figure(cell.get("test")), f"(val {figure(cell.get('val'))})"


def paper_text(verdict: dict[str, Any]) -> str:
    return str(verdict["paper"]["text"]) if verdict.get("paper") else "-"


class Notes:
    """Numbered notes under a table: a long reason or a caveat is marked `[n]` in its cell and said once below."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"

    def lines(self) -> list[str]:
        return [f"[{i}] {text}" for i, text in enumerate(self.items, 1)]


SHORT_REASON = 40  # a reason up to this long is said in its cell ("not run"); a longer one in a note


def verdict_text(verdict: dict[str, Any], notes: Notes | None = None) -> str:
    """`covered`, `not covered`, or `not comparable: why`; with `notes`, a long reason and any caveat become a
    marked note instead (`not comparable [1]`, `covered [2]`)."""
    comparison = verdict.get("comparison")
    if not comparison:
        return "-"
    text = str(comparison["verdict"])
    if text == "not comparable":
        reason = str(comparison["reason"])
        text += f": {reason}" if notes is None or len(reason) <= SHORT_REASON else f" {notes.mark(reason)}"
    if comparison.get("caveat"):
        caveat = str(comparison["caveat"])
        text += f" (note: {caveat})" if notes is None else f" {notes.mark(caveat)}"
    return text


def verdict_of(verdict: dict[str, Any]) -> str:
    comparison = verdict.get("comparison")
    return str(comparison["verdict"]) if comparison else "none"


def count(value: Any) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "-"


def dollars(value: Any) -> str:
    return f"${value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def usage_cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "cost_usd":
        return dollars(value)
    return str(int(value)) if isinstance(value, int | float) and not isinstance(value, bool) else "-"


USAGE_COLUMNS = (("calls", "calls"), ("samples", "samples"), ("requests", "requests"),
                 ("input_tokens", "input tokens"), ("output_tokens", "output tokens"), ("cost_usd", "dollars"),
                 ("cache_hits", "cache hits"), ("refused_calls", "refused"))


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def lm_note(study: dict[str, Any]) -> str:
    lm = study.get("lm") or "?"
    return (OFFLINE_NOTE if study.get("offline") else MODEL_NOTE).format(lm=lm)


def run_rows(content: dict[str, Any]) -> list[list[str]]:
    """One row per seed's STOP run (plain text: the renderers escape it)."""
    rows = []
    for run in content["runs"]:
        first, last = run["first"] or {}, run["last"] or {}
        rows.append([str(run["seed"] or "?"), "yes" if run["complete"] else "no",
                     "-" if run["reached"] is None else f"I_{run['reached']}", pct(first.get("test")),
                     pct(last.get("test")), str(run["kept"]), "; ".join(run["failures"]) or "-",
                     ", ".join(run["strategies"]) or "-", run["stopped"] or "-", run["run_dir"] or "-"])
    return rows


RUN_HEAD = ["seed", "complete", "reached", "I_0 test", "last test", "kept previous", "failures",
            "strategies of the final improver", "stopped", "run directory"]


def study_rows(content: dict[str, Any]) -> list[list[str]]:
    """The study's header table: what ran, with what, how far (plain text)."""
    s = content["study"]
    rows = [["task", s["task"] or "-"], ["LM", s["lm"] or "-"], ["backend", s["backend"] or "-"],
            ["seeds", ", ".join(s["seeds"]) or "-"], ["iterations", count(s["iterations"])],
            ["transfer tasks", ", ".join(s["transfer_tasks"]) or "-"], ["status", s["status"] or "-"],
            ["complete", "yes" if s["complete"] else "no"], ["duration", duration(s["duration"])]]
    if s["stopped"]:
        rows.append(["stopped", s["stopped"]])
    return rows
