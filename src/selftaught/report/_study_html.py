"""Renders the study report as one self-contained HTML page: inline CSS and SVG, no script, every run text escaped."""

from __future__ import annotations

from typing import Any

from selftaught.report import _study_format as fmt
from selftaught.report._html import CSP, CSS, e
from selftaught.report._study_svg import curve_svg

STUDY_CSS = CSS + """
td.verdict[data-verdict="covered"]{color:#176f2c}td.verdict[data-verdict="not covered"]{color:#a33;font-weight:bold}
td.verdict[data-verdict="not comparable"]{color:#666;font-style:italic;text-align:left;max-width:28em}
td.notrun{color:#999}td.fig{white-space:nowrap}table.transfer{font-size:90%}body{max-width:1250px}
table.transfer th{text-align:center}ol.notes{font-size:90%;color:#444}
"""


def td(text: Any, cls: str = "", **data: str) -> str:
    """A table cell holding `text` escaped; `data` becomes `data-*` attributes (escaped too)."""
    attrs = f' class="{e(cls)}"' if cls else ""
    attrs += "".join(f' data-{k.replace("_", "-")}="{e(v)}"' for k, v in data.items())
    return f"<td{attrs}>{e(text)}</td>"


def table(head: list[str], rows: list[list[str]], cls: str, row_data: list[dict[str, str]] | None = None) -> str:
    """`rows` hold `td(...)` cells (already HTML); `row_data`, `data-*` attributes of each row."""
    out = [f'<table class="{e(cls)}"><tr>' + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
    for i, row in enumerate(rows):
        data = (row_data or [{}] * len(rows))[i]
        attrs = "".join(f' data-{k}="{e(v)}"' for k, v in data.items())
        out.append(f"<tr{attrs}>" + "".join(row) + "</tr>")
    return "\n".join(out) + "</table>"


def _verdict(v: dict[str, Any], notes: fmt.Notes) -> str:
    return td(fmt.verdict_text(v, notes), "verdict", verdict=fmt.verdict_of(v))


def _note(text: str) -> str:
    return f'<p class="note">{e(text)}</p>'


def _notes(notes: fmt.Notes) -> list[str]:
    if not notes.items:
        return []
    return ['<ol class="notes">' + "".join(f"<li>{e(text)}</li>" for text in notes.items) + "</ol>"]


def _test_val(cell: dict[str, Any]) -> str:
    test, val = fmt.test_val(cell)
    if not val:
        return td(test, "notrun")
    return f'<td class="fig">{e(test)}<br><small>{e(val)}</small></td>'


def _curve(c: dict[str, Any]) -> list[str]:
    out = ['<h2 id="curve">Meta-utility over the iterations, mean over seeds</h2>']
    rows = c["curve"]["rows"]
    if not rows:
        return [*out, '<p class="notrun">No iteration: not run.</p>']
    out.append(curve_svg(rows))
    notes = fmt.Notes()
    cells = [[td(f"I_{r['iteration']}"), td(fmt.figure(r["val"]), "" if r["val"] else "notrun"),
              td(fmt.seeds_of(r["val"])), td(fmt.figure(r["test"]), "" if r["test"] else "notrun"),
              td(fmt.seeds_of(r["test"])), td(fmt.paper_text(r["test_paper"])), _verdict(r["test_paper"], notes)]
             for r in rows]
    out.append(table(["iteration", "val [95% over seeds]", "seeds", "test [95% over seeds]", "seeds",
                      f"paper ({c['curve']['split']})", "covered?"], cells, "curve",
                     [{"iteration": str(r["iteration"])} for r in rows]))
    out += _notes(notes)
    out.append(_note(f"Paper: {c['curve']['source']}. {c['curve']['note']} {fmt.SEEDS_NOTE}."))
    return out


def _transfer(c: dict[str, Any]) -> list[str]:
    t = c["transfer"]
    out = ['<h2 id="transfer">Transfer (the paper\'s Table 1)</h2>']
    if not t["run"]:
        out.append('<p class="notrun">Transfer: not run. The paper\'s numbers are shown alone.</p>')
    rows = []
    notes = fmt.Notes()
    for row in t["rows"]:
        name = f"<br><small>{e(row['paper_name'])}</small>" if row["paper_name"] else ""
        cells = [f'<td class="task">{e(row["task"])}{name}</td>', td(fmt.count(row["seeds"]))]
        for key in fmt.COLUMNS:
            cell = row["cells"][key]
            cells += [_test_val(cell), td(fmt.paper_text(cell)), _verdict(cell, notes)]
        rows.append(cells)
    groups = "".join(f'<th colspan="3">{e(label)}</th>' for label in fmt.COLUMNS.values())
    head = ('<tr><th rowspan="2">task (paper\'s name)</th><th rowspan="2">seeds</th>' + groups + "</tr><tr>"
            + "<th>test [95%] (val)</th><th>paper</th><th>covered?</th>" * len(fmt.COLUMNS) + "</tr>")
    body = "".join(f'<tr data-task="{e(row["task"])}">' + "".join(cells) + "</tr>"
                   for row, cells in zip(t["rows"], rows, strict=True))
    out.append(f'<table class="transfer">{head}\n{body}</table>')
    out += _notes(notes)
    out.append(_note(f"Paper: {t['source']}. {t['note']} Test with its 95% interval over seeds, val in parentheses. "
                     f"{fmt.SEEDS_NOTE}."))
    if t["per_seed"]:
        rows = [[td(s["seed"] or "?"), td(s["improver"] or "-"), td("yes" if s["complete"] else "no"),
                 td(s["tasks"]), td(s["path"] or "-")] for s in t["per_seed"]]
        out += ["<h3>Transfer per seed</h3>",
                table(["seed", "improver", "complete", "tasks measured", "file"], rows, "transfer-seeds")]
    return out


def _sandbox(c: dict[str, Any]) -> list[str]:
    s = c["safety"]
    out = ['<h2 id="sandbox">Sandbox flag: with and without the warning</h2>']
    rows = []
    notes = fmt.Notes()
    for prompt, label in (("warn", "with the warning"), ("nowarn", "without the warning")):
        r = s["sandbox"][prompt]
        if not r["run"]:
            rows.append([td(label), td(fmt.NOT_RUN, "notrun"), td("-"), td("-"), td(fmt.NOT_RUN, "notrun"),
                         td(fmt.paper_text(r)), _verdict(r, notes)])
            continue
        rate = f"{fmt.pct(r['rate'], 2)} [{fmt.pct(r['ci_low'], 2)}, {fmt.pct(r['ci_high'], 2)}]"
        rows.append([td(label), td(fmt.count(r["samples"])), td(fmt.count(r["disabled"])), td(fmt.count(r["no_code"])),
                     td(rate), td(fmt.paper_text(r)), _verdict(r, notes)])
    out.append(table(["prompt", "samples", "sandbox turned off", "no code", "rate [95% Wilson]",
                      f"paper ({s['sandbox_samples']:,} samples)", "covered?"], rows, "sandbox",
                     [{"prompt": p} for p in ("warn", "nowarn")]))
    out += _notes(notes)
    out.append(_note(f"Paper: {s['sandbox_source']}. {s['sandbox_statement']} {s['sandbox_note']}"))
    return out


def _flags(c: dict[str, Any]) -> list[str]:
    s = c["safety"]
    out = ['<h2 id="reward-hacking">Reward-hacking flags</h2>']
    rh = s["reward_hacking"]
    if rh is None:
        out.append('<p class="notrun">Reward-hacking flag rates: not run.</p>')
    else:
        rows = [[td(r["flag"]), td(fmt.count(r["count"])),
                 td(f"{fmt.pct(r['rate'], 2)} [{fmt.pct(r['low'], 2)}, {fmt.pct(r['high'], 2)}]")] for r in rh["rows"]]
        out.append(f"<p>over {e(fmt.count(rh['evaluations']))} evaluations</p>")
        out.append(table(["flag", "count", "rate [95%]"], rows, "reward-hacking") if rows else "<p>No flag.</p>")
    out.append(_note(f"Paper: {s['reward_hacking_source']}. {s['reward_hacking_paper']}"))
    out.append("<h3>Runtime audit flags</h3>")
    runtime = s["runtime"]
    if runtime is None:
        out.append('<p class="notrun">Runtime audit counts: not run.</p>')
    else:
        rows = [[td(k), td(v)] for k, v in sorted(runtime.items())]
        out.append(table(["flag", "count"], rows, "runtime") if rows else "<p>No flag.</p>")
    return out


def _strategies(c: dict[str, Any]) -> list[str]:
    s = c["strategies"]
    out = ['<h2 id="strategies">Strategies of the final improvers</h2>']
    if not s["run"]:
        return [*out, '<p class="notrun">Strategy tags: not run.</p>']
    rows = [[td(r["tag"]), td(r["count"]), td(r["paper"] or "-")] for r in s["rows"]]
    out.append(table(["tag", "final improvers (over seeds)", "named in the paper as"], rows, "strategies"))
    out.append(_note(f"Paper: {s['source']}. Tags are heuristic: a static read of each improver's code."))
    return out


def _runs_usage_config(c: dict[str, Any]) -> list[str]:
    out = ['<h2 id="runs">STOP runs, one per seed</h2>']
    rows = [[td(v) for v in row] for row in fmt.run_rows(c)]
    out.append(table(fmt.RUN_HEAD, rows, "runs") if rows else '<p class="notrun">No run: not run.</p>')
    out.append('<h2 id="usage">LM usage</h2>')
    u = c["usage"]
    if u is None:
        out.append('<p class="notrun">LM usage: not recorded.</p>')
    else:
        src = {"all": u["total"], **u["by_level"]}
        rows = [[td(name), *(td(fmt.usage_cell(row, k)) for k, _ in fmt.USAGE_COLUMNS)] for name, row in src.items()]
        out.append(table(["", *(label for _, label in fmt.USAGE_COLUMNS)], rows, "usage"))
        if u["unpriced_models"]:
            out.append(_note("models without a price (their dollars are not counted): "
                             + ", ".join(u["unpriced_models"])))
    out.append('<h2 id="config">Configuration</h2>')
    rows = [[td(k), td(v, "text")] for k, v in c["study"]["config"].items()]
    out.append(table(["setting", "value"], rows, "config") if rows else "<p>No configuration recorded.</p>")
    return out


def _sources(c: dict[str, Any]) -> list[str]:
    cite = c["paper"]["citation"]
    rows = [[td(r["figure"], "text"), td(r["paper"]), td(r["source"], "text")] for r in c["paper"]["sources"]]
    return ['<h2 id="sources">The paper\'s numbers and their sources</h2>',
            _note(f"{cite['title']}, arXiv {cite['arxiv']} {cite['version']}; LM {cite['lm']}."),
            table(["figure", "paper", "source"], rows, "sources")]


def render_study_html(content: dict[str, Any]) -> str:
    """The whole page. Everything taken from the study record is escaped: task names, flags, tags, messages."""
    study = content["study"]
    title = f"selftaught study report: {study['task'] or '?'}"
    parts = [f"<h1>{e(title)}</h1>", _note(fmt.lm_note(study)),
             table(["", ""], [[td(k), td(v, "text")] for k, v in fmt.study_rows(content)], "study")]
    if content["missing"]:
        parts.append('<div class="warn" id="missing"><b>What is missing</b><ul>'
                     + "".join(f"<li>{e(m)}</li>" for m in content["missing"]) + "</ul></div>")
    parts.append(_note(f"Coverage rule: {fmt.COVERAGE_RULE}."))
    parts += [*_curve(content), *_transfer(content), *_sandbox(content), *_flags(content), *_strategies(content),
              *_runs_usage_config(content), *_sources(content)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{e(title)}</title><style>{STUDY_CSS}</style></head>\n<body>\n" + "\n".join(parts)
            + "\n</body></html>\n")
