"""Renders report data as Markdown: tables, fenced code, and the plot as an embedded SVG data-URI image.

Everything taken from the run directory is candidate-controlled (exception messages, details, program names) and
stays text: short values are escaped (`cell`), long ones (details, code) go in fences they cannot close (`fence`).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from selftaught._text import visible
from selftaught.report import _format as fmt
from selftaught.report._svg import plot_svg
from selftaught.report._tree_svg import tree_svg

#: Characters that start or end an inline construct (emphasis, strikethrough, code, links, images, raw HTML,
#: entities, table cells, math) wherever they stand; each is escaped with a backslash, as CommonMark allows.
_INLINE = re.compile(r"([\\`*_~\[\]!<>&|$#])")
#: What starts a block (heading, quote, list item, setext underline) at the start of a line or list item.
_BLOCK_START = re.compile(r"([#>+\-=])|(\d{1,9})([.)])")
_DIGEST = re.compile(r"[0-9a-f]{1,64}")


def cell(value: Any) -> str:
    """Text that renders as itself, on one line, inside a line (a table cell, after a heading's `#`s or a label).

    Control characters are shown as escapes, runs of whitespace become one space, and every Markdown punctuation
    that could start or end an inline construct is backslash-escaped.
    """
    return _INLINE.sub(r"\\\1", visible(" ".join(str(value).split()), keep=""))


def para(value: Any) -> str:
    """Like `cell`, for text that starts a line (a paragraph, a list item): a block marker there is escaped too."""
    text = cell(value)
    start = _BLOCK_START.match(text)
    if start is None:
        return text
    if start.group(1):
        return "\\" + text
    return start.group(2) + "\\" + text[start.end(2):]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    """`rows` cells are already formatted with `cell` (or are trusted Markdown such as links)."""
    return ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def fence(code: str, lang: str = "") -> list[str]:
    """A fenced block that nothing inside can close: the fence is longer than any backtick run in `code`
    (control characters in it are shown as escapes, as everywhere in the report)."""
    code = visible(code)
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    bar = "`" * max(3, longest + 1)
    return [bar + lang, code.rstrip("\n"), bar, ""]


def _prog(digest: Any) -> str:
    """A link to a program shown further down; a name that is not a hash is shown as text, never linked."""
    if not digest:
        return "-"
    if not _DIGEST.fullmatch(str(digest)):
        return cell(digest)
    return f"[{digest}](#prog-{digest})"


def _figures(r: dict[str, Any]) -> list[str]:
    out = ["## Meta-utility of I_0..I_T", ""]
    if not r["figures"]:
        return [*out, "No iteration was recorded.", ""]
    svg = base64.b64encode(plot_svg(r["figures"]).encode()).decode()
    out += [f"![meta-utility of I_t, val and test with 95% intervals](data:image/svg+xml;base64,{svg})", ""]
    rows = [[f"I_{int(f['iteration'])}", fmt.num(f["val"]["mean"]), cell(fmt.interval(f["val"])),
             cell(fmt.hoeffding(f["val"])), fmt.num(f["test"]["mean"]), cell(fmt.interval(f["test"])),
             cell(fmt.hoeffding(f["test"])), fmt.num(f["selection_score"]), cell(fmt.runs_note(f["val"])),
             "kept previous" if f["kept_previous"] else ""] for f in r["figures"]]
    out += _table(["iteration", "val", "val 95% CI", "val Hoeffding", "test", "test 95% CI", "test Hoeffding",
                   "selection score (val)", "downstream runs (val)", ""], rows)
    iv = r["intervals"]
    out += [f"Fresh measurements (purpose `measure`). 95% CI: {iv['method']} ({iv['resamples']} resamples, seeded). "
            "Hoeffding: half-width for n values in [0, 1], n = downstream runs. The selection score is what the "
            "improving improver saw (biased upward; for comparison only).", ""]
    return out


def _lineage(r: dict[str, Any]) -> list[str]:
    out = ["## Improver lineage", "", f"_{fmt.STRATEGY_NOTE}._", ""]
    if r.get("tree"):
        svg = base64.b64encode(tree_svg(r["tree"]).encode()).decode()
        out += [f"![lineage tree of the improvers](data:image/svg+xml;base64,{svg})", "", f"_{fmt.TREE_NOTE}_", ""]
    for step in r["lineage"]:
        t = int(step["iteration"])
        out += [f"### I_{t}: {cell(step['status'])} ({cell(step['improver'])})", ""]
        if step.get("gate") is not None:  # the gate's line is ours (figures), not the candidate's text
            out += [para(step["reason"]), ""]
        elif step["status"] == "kept previous":  # the failure's message is the candidate's own text: fenced
            out += [f"kept the previous improver: the new one failed ({cell(step.get('failure') or 'failed')}):", "",
                    *fence(step.get("detail") or "(no message)", "text")]
        else:
            out += [para(step["reason"]), ""]
        if step.get("candidate"):
            out += [f"rejected candidate: {_prog(step['candidate'])}", ""]
        out += ["strategies: " + (", ".join(cell(s) for s in step.get("strategies") or []) or "none found"), ""]
        if step["diff"]:
            out += [f"diff against I_{step['parent']}:", "", *fence("\n".join(step["diff"]), "diff")]
        if step["code"] is not None:
            out += ["<details><summary>code</summary>", "", *fence(step["code"], "python"), "</details>", ""]
    return out


def _gates(r: dict[str, Any]) -> list[str]:
    g = r["gates"]
    out = ["## Adoption", ""]
    if not g["decisions"]:
        return [*out, para(fmt.ALWAYS_NOTE if g["adopt"] == "always" else "no step reached the gate") + ".", ""]
    rows = []
    for d in g["decisions"]:
        c = fmt.gate_cells(d)
        rows.append([cell(c["step"]), cell(c["decision"]), cell(d["incumbent"]), cell(d["candidate"]),
                     cell(c["difference"]), cell(c["interval"]), cell(c["p"]), cell(c["runs"])])
    return [*out, *_table(fmt.GATE_HEAD, rows),
            para(f"--adopt better, alpha {d.get('alpha')}: {fmt.GATE_NOTE}."), ""]


def _transfer(r: dict[str, Any]) -> list[str]:
    tr = r["transfer"]
    if tr is None:
        return ["## Transfer", "", "No transfer results: make them with `selftaught transfer RUN/improvers/I_T.py "
                "--json > transfer.json` and pass `--transfer transfer.json` (or save it as `RUN/transfer.json`).", ""]
    rows = [[cell(row.get("task")), *fmt.transfer_figures(row)] for row in tr["rows"]]
    return ["## Transfer", "", f"from {cell(tr['source'])}; test with its 95% interval (val in parentheses)", "",
            *_table(["task", "u(seed solution)", "meta-utility I_0", "meta-utility improver"], rows)]


def _usage(r: dict[str, Any]) -> list[str]:
    u = r["usage"]
    out = ["## LM usage", "", f"from {cell(u['source'])}", ""]
    head = ["", *(label for _, label in fmt.USAGE_COLUMNS)]
    for title, key in (("total", None), ("per level", "by_level"), ("per iteration", "by_iteration")):
        src = {"all": u["total"]} if key is None else u.get(key) or {}
        rows = [[cell(name if key != "by_iteration" else f"I_{name}"),
                 *(cell(fmt.usage_cell(row, k)) for k, _ in fmt.USAGE_COLUMNS)] for name, row in src.items()]
        out += [f"### {title}", "", *_table(head, rows)]
    if isinstance(u.get("speculation"), dict):
        out += ["### speculation", "", *_table(["", ""], [[cell(k), cell(v)] for k, v in u["speculation"].items()])]
    return out


def _outcomes(r: dict[str, Any]) -> list[str]:
    o = r["outcomes"]
    out = ["## Evaluations by outcome", "", f"{fmt.OUTCOME_NOTE}. Cached repeats ({o['cached_evaluations']}) are "
           "not counted.", ""]
    for title, key in (("utility evaluations", "evaluations"), ("instances", "instances"),
                       ("improver runs", "improver_runs")):
        cols = fmt.columns(o[key])
        rows = [[cell(name), *(str(row.get(c, 0)) for c in cols), str(sum(row.values()))]
                for name, row in o[key].items()]
        out += [f"### {title}", "", *(_table(["outcome", *cols, "total"], rows) if rows else ["none", ""])]
    return out


def _safety(r: dict[str, Any]) -> list[str]:
    s = r["safety"]
    t = s["totals"]
    out = ["## Safety", "", f"sandbox flag turned off: {t['sandbox_flag_off']}; programs with static flags: "
           f"{t['programs_flagged']}; runtime audit flags: {sum(t['runtime'].values())}; reward-hacking flags: "
           f"{sum(t['reward_hacking'].values())}", ""]
    rows = [[cell(f["kind"]), cell(f["flag"]), str(f["count"]), cell(f["iteration"]), _prog(f["program"]),
             cell(f["role"]), cell(f["note"])] for f in s["findings"]]
    out += _table(["kind", "flag", "count", "iteration", "program", "role", "note"], rows) if rows else \
        ["No safety finding.", ""]
    if r["programs"]:
        out += ["### Flagged and rejected programs", ""]
        for digest, code in r["programs"].items():
            anchor = [f'<a id="prog-{digest}"></a>', ""] if _DIGEST.fullmatch(digest) else []
            out += [*anchor, f"#### {cell(digest)}", "",
                    *fence(code if code is not None else "(program file missing)", "python")]
    return out


def render_md(report: dict[str, Any]) -> str:
    """The whole report as Markdown (GitHub-flavoured tables)."""
    run = report["run"]
    out = [f"# selftaught report: {cell(run['task'] or '?')}", "",
           *_table(["", ""], [[cell(k), cell(v)] for k, v in (
               ("run directory", run["dir"]), ("LM", run["lm"]), ("seed", run["seed"]),
               ("complete", "yes" if run["complete"] else "no"), ("stopped", run.get("stopped") or "-"))])]
    if report["warnings"]:
        out += ["**What is missing or unusual:**", "", *(f"- {para(w)}" for w in report["warnings"]), ""]
    out += [*_figures(report), *_gates(report), *_lineage(report), *_transfer(report), *_usage(report),
            *_outcomes(report), *_safety(report)]
    return "\n".join(out).rstrip("\n") + "\n"
