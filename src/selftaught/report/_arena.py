"""The arena's report: its leaderboards and paired tests as Markdown and as one self-contained HTML page.

A pure read of the arena's record (what `arena --json` prints). Improver names are what the user typed (file
paths, run references): they stay text, escaped in both formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from selftaught._atomic import write_atomic
from selftaught.report._html import CSP, CSS, e
from selftaught.report._md import _table, cell, para
from selftaught.report._study_html import table, td
from selftaught.stop.formulations import describe_line

ARENA_CSS = CSS + 'tr[data-significant="yes"] td{font-weight:bold}td.verdict{text-align:left}'


def _fig(fig: Mapping[str, Any]) -> str:
    return f"{fig['mean']:.4f} [{fig['low']:.4f}, {fig['high']:.4f}]"


def _diff(fig: Mapping[str, Any]) -> str:
    return f"{fig['mean']:+.4f} [{fig['low']:+.4f}, {fig['high']:+.4f}]"


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 0.001 else "< 0.001"


def _header(data: Mapping[str, Any]) -> tuple[str, list[str]]:
    arena, budgets = data["arena"], data["budgets"]
    title = f"selftaught arena: {len(arena['improvers'])} improvers on {', '.join(arena['tasks'])}"
    lines = [f"LM {data['lm']}, seed {data['seed']}; every improver under the same budgets: "
             f"{budgets['downstream_runs']} downstream runs per task, each with {budgets['lm_budget']} LM calls of up "
             f"to {budgets['max_responses']} samples and {budgets['utility_budget']} utility calls; the same run "
             "indices for every improver (LM purpose `arena`: fresh samples).",
             "Meta-utility: the mean over downstream runs of each run's solution's mean score, with a 95% "
             "nested-bootstrap interval (runs x instances). Pairs: B - A on the test split, the sign-flip test over "
             f"the runs' differences, p adjusted by Holm's method over all {len(arena['pairs'])} pairs of all tasks; "
             f"significant when the adjusted p < {arena['alpha']} and the interval excludes 0."]
    if line := describe_line(data.get("formulation") or {}):
        lines.append(line[:1].upper() + line[1:] + ".")
    return title, lines


def _leader_rows(rows: list[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    return [(str(rank), str(s["improver"]), _fig(s["test"]), _fig(s["val"]),
             f"{s['failed_runs']}/{s['downstream_runs']}") for rank, s in enumerate(rows, start=1)]


LEADER_HEAD = ["rank", "improver", "test", "val", "failed runs"]
OVERALL_HEAD = ["improver", "mean test over tasks", "mean rank"]
PAIR_HEAD = ["task", "A", "B", "B - A (test)", "p", "Holm p", "verdict"]


def _pair_row(p: Mapping[str, Any]) -> tuple[str, ...]:
    return (str(p["task"]), str(p["a"]), str(p["b"]), _diff(p["difference"]), _p(p["p_value"]), _p(p["p_holm"]),
            "significant" if p["significant"] else "not significant")


def render_arena_md(data: Mapping[str, Any]) -> str:
    arena = data["arena"]
    title, lines = _header(data)
    out = [f"# {cell(title)}", "", *(para(line) + "\n" for line in lines)]
    for task in arena["tasks"]:
        out += [f"## {cell(task)}", "", *_table(LEADER_HEAD, [[cell(c) for c in row] for row in
                                                              _leader_rows(arena["leaderboards"][task])])]
    if len(arena["tasks"]) > 1:
        out += ["## Over the tasks", "", *_table(OVERALL_HEAD, [[cell(o["improver"]), f"{o['mean_test']:.4f}",
                                                                  f"{o['mean_rank']:.2f}"] for o in arena["overall"]])]
    out += ["## Pairs", "", *_table(PAIR_HEAD, [[cell(c) for c in _pair_row(p)] for p in arena["pairs"]])]
    return "\n".join(out)


def _rows(rows: list[tuple[str, ...]], last: str = "") -> list[list[str]]:
    """Table cells, escaped; the last column of each row with class `last`, if given."""
    return [[td(c, last if last and i == len(row) - 1 else "") for i, c in enumerate(row)] for row in rows]


def render_arena_html(data: Mapping[str, Any]) -> str:
    arena = data["arena"]
    title, lines = _header(data)
    parts = [f"<h1>{e(title)}</h1>", *(f'<p class="note">{e(line)}</p>' for line in lines)]
    for task in arena["tasks"]:
        parts += [f"<h2>{e(task)}</h2>", table(LEADER_HEAD, _rows(_leader_rows(arena["leaderboards"][task])),
                                               "leaderboard")]
    if len(arena["tasks"]) > 1:
        parts += ["<h2>Over the tasks</h2>", table(
            OVERALL_HEAD, _rows([(str(o["improver"]), f"{o['mean_test']:.4f}", f"{o['mean_rank']:.2f}")
                                 for o in arena["overall"]]), "overall")]
    parts += ["<h2>Pairs</h2>", table(PAIR_HEAD, _rows([_pair_row(p) for p in arena["pairs"]], "verdict"), "pairs",
                                      [{"significant": "yes" if p["significant"] else "no"} for p in arena["pairs"]])]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{e(title)}</title><style>{ARENA_CSS}</style></head>\n<body>\n" + "\n".join(parts)
            + "\n</body></html>\n")


def write_arena_report(data: Mapping[str, Any], stem: Path) -> tuple[Path, Path]:
    """`stem`.md and `stem`.html, written atomically."""
    md, html = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".html")
    write_atomic(md, render_arena_md(data))
    write_atomic(html, render_arena_html(data))
    return md, html
