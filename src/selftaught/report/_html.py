"""Renders report data as one self-contained HTML page: inline CSS and SVG, no script, everything escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from selftaught._text import visible
from selftaught.report import _format as fmt
from selftaught.report._svg import plot_svg
from selftaught.report._tree_svg import tree_svg

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child,td.text{text-align:left}th{background:#f2f2f2}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;overflow:auto;max-height:28em;font-size:12px}
pre.diff span{display:block}.add{background:#e6ffec}.del{background:#ffebe9}.hunk{color:#6f42c1}
.warn{background:#fff4ce;border:1px solid #e0c060;padding:.5em 1em}.note{color:#555;font-size:90%}
.tag{display:inline-block;background:#eef;border:1px solid #99c;border-radius:3px;padding:0 5px;margin:1px}
.accepted{color:#176f2c}.kept{color:#a33}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def e(value: Any) -> str:
    """HTML-escaped text, its control characters (and bidi controls) shown as escapes."""
    return escape(visible(str(value)), quote=True)


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """`rows` cells are already HTML (escaped by the caller)."""
    out = [f'<table class="{e(cls)}"><tr>' + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join(out) + "</table>"


def _prog(digest: Any) -> str:
    if not digest:
        return "-"
    return f'<a href="#prog-{e(digest)}">{e(digest)}</a>'


def _header(r: dict[str, Any]) -> list[str]:
    run = r["run"]
    rows = [["run directory", run["dir"]], ["task", run["task"]], ["LM", run["lm"]], ["seed", run["seed"]],
            ["complete", "yes" if run["complete"] else "no"], ["format version", run["format_version"]]]
    if run.get("stopped"):
        rows.append(["stopped", run["stopped"]])
    out = [f"<h1>selftaught report: {e(run['task'] or '?')}</h1>",
           _table(["", ""], [[e(k), f'<span class="text">{e(v)}</span>'] for k, v in rows], "run")]
    if r["warnings"]:
        out.append('<div class="warn" id="warnings"><b>What is missing or unusual</b><ul>'
                   + "".join(f"<li>{e(w)}</li>" for w in r["warnings"]) + "</ul></div>")
    return out


def _figures(r: dict[str, Any]) -> list[str]:
    figs = r["figures"]
    out = ['<h2 id="meta-utility">Meta-utility of I_0..I_T</h2>']
    if not figs:
        return [*out, "<p>No iteration was recorded.</p>"]
    out.append(plot_svg(figs))
    rows = []
    for f in figs:
        t = int(f["iteration"])
        rows.append([f'<a href="#I_{t}">I_{t}</a>', fmt.num(f["val"]["mean"]), e(fmt.interval(f["val"])),
                     e(fmt.hoeffding(f["val"])), fmt.num(f["test"]["mean"]), e(fmt.interval(f["test"])),
                     e(fmt.hoeffding(f["test"])), fmt.num(f["selection_score"]), e(fmt.runs_note(f["val"])),
                     "kept previous" if f["kept_previous"] else ""])
    out.append(_table(["iteration", "val", "val 95% CI", "val Hoeffding", "test", "test 95% CI", "test Hoeffding",
                       "selection score (val)", "downstream runs (val)", ""], rows, "figures"))
    iv = r["intervals"]
    out.append(f'<p class="note">Each figure is a fresh measurement: the mean over downstream runs (purpose '
               f'<code>measure</code>) of their solutions\' scores. 95% CI: {e(iv["method"])} ({iv["resamples"]} '
               'resamples, seeded). Hoeffding: the paper\'s distribution-free half-width for the mean of n values in '
               '[0, 1], n = downstream runs. The selection score is what the improving improver saw when it chose '
               'I_t (other LM samples); it is biased upward and shown only for comparison.</p>')
    return out


def _lineage(r: dict[str, Any]) -> list[str]:
    out = ['<h2 id="lineage">Improver lineage</h2>', f'<p class="note">{e(fmt.STRATEGY_NOTE)}</p>']
    if r.get("tree"):
        out += [tree_svg(r["tree"]), f'<p class="note">{e(fmt.TREE_NOTE)}</p>']
    for step in r["lineage"]:
        t = int(step["iteration"])
        cls = "accepted" if step["status"] == "accepted" else ("kept" if step["status"] == "kept previous" else "")
        out.append(f'<section class="step" id="I_{t}"><h3>I_{t} <span class="{cls}">{e(step["status"])}</span>'
                   f' <small>{e(step["improver"])}</small></h3>')
        out.append(f"<p>{e(step['reason'])}</p>")
        if step.get("candidate"):
            out.append(f"<p>rejected candidate: {_prog(step['candidate'])}</p>")
        tags = step.get("strategies") or []
        out.append("<p>strategies: " + ("".join(f'<span class="tag">{e(s)}</span>' for s in tags) or "none found")
                   + "</p>")
        if step["diff"]:
            out.append(f'<p>diff against I_{step["parent"]}:</p><pre class="diff">' + "".join(
                f'<span class="{_diff_class(line)}">{e(line) or " "}</span>' for line in step["diff"]) + "</pre>")
        elif t > 0:
            out.append(f"<p>no change against I_{step['parent']}</p>")
        if step["code"] is not None:
            out.append(f"<details><summary>code of I_{t}</summary><pre class=\"code\">{e(step['code'])}</pre>"
                       "</details>")
        else:
            out.append("<p>(code missing from the run directory)</p>")
        out.append("</section>")
    return out


def _gates(r: dict[str, Any]) -> list[str]:
    g = r["gates"]
    out = ['<h2 id="gate">Adoption</h2>']
    if not g["decisions"]:
        note = fmt.ALWAYS_NOTE if g["adopt"] == "always" else "no step reached the gate"
        return [*out, f'<p class="note">{e(note)}.</p>']
    rows = []
    for d in g["decisions"]:
        c = fmt.gate_cells(d)
        cls = "accepted" if d["adopted"] else "kept"
        rows.append([f'<a href="#{e(c["step"])}">{e(c["step"])}</a>', f'<span class="{cls}">{e(c["decision"])}</span>',
                     e(d["incumbent"]), e(d["candidate"]), e(c["difference"]), e(c["interval"]), e(c["p"]),
                     e(c["runs"])])
    alpha = g["decisions"][0].get("alpha")
    out.append(_table(fmt.GATE_HEAD, rows, "gates"))
    out.append(f'<p class="note">--adopt better, alpha {e(alpha)}: {e(fmt.GATE_NOTE)}.</p>')
    return out


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    return {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")


def _transfer(r: dict[str, Any]) -> list[str]:
    out = ['<h2 id="transfer">Transfer</h2>']
    tr = r["transfer"]
    if tr is None:
        return [*out, '<p class="note">This run has no transfer results (<code>selftaught run</code> does not make '
                'them). Make them with <code>selftaught transfer RUN/improvers/I_T.py --json &gt; transfer.json</code> '
                'and pass <code>--transfer transfer.json</code>, or save the file as <code>RUN/transfer.json</code>.'
                '</p>']
    rows = [[e(row.get("task")), *fmt.transfer_figures(row)] for row in tr["rows"]]
    out.append(f"<p>from {e(tr['source'])}, improver {e(tr.get('improver'))}; test with its 95% interval "
               "(val in parentheses)</p>")
    out.append(_table(["task", "u(seed solution)", "meta-utility I_0", "meta-utility improver"], rows, "transfer"))
    return out


def _usage(r: dict[str, Any]) -> list[str]:
    u = r["usage"]
    out = ['<h2 id="usage">LM usage</h2>', f'<p class="note">from {e(u["source"])}</p>']
    head = ["", *(label for _, label in fmt.USAGE_COLUMNS)]
    for title, key in (("total", None), ("per level", "by_level"), ("per iteration", "by_iteration")):
        rows_src = {"all": u["total"]} if key is None else u.get(key) or {}
        rows = [[e(name if key != "by_iteration" else f"I_{name}"),
                 *(e(fmt.usage_cell(row, k)) for k, _ in fmt.USAGE_COLUMNS)] for name, row in rows_src.items()]
        out += [f"<h3>{e(title)}</h3>", _table(head, rows, f"usage {key or 'total'}")]
    if u.get("speculation"):
        spec = u["speculation"]
        rows = [[e(k), e(v)] for k, v in spec.items()] if isinstance(spec, dict) else []
        out += ["<h3>speculation</h3>", _table(["", ""], rows, "speculation")]
    return out


def _outcomes(r: dict[str, Any]) -> list[str]:
    o = r["outcomes"]
    out = ['<h2 id="outcomes">Evaluations by outcome</h2>', f'<p class="note">{e(fmt.OUTCOME_NOTE)}. Cached '
           f'repeats of an evaluation ({o["cached_evaluations"]}) are not counted.</p>']
    for title, key in (("utility evaluations", "evaluations"), ("instances", "instances"),
                       ("improver runs", "improver_runs")):
        table = o[key]
        cols = fmt.columns(table)
        rows = [[e(name), *(str(row.get(c, 0)) for c in cols), str(sum(row.values()))] for name, row in table.items()]
        out += [f"<h3>{e(title)}</h3>", _table(["outcome", *cols, "total"], rows, key) if rows else "<p>none</p>"]
    return out


def _safety(r: dict[str, Any]) -> list[str]:
    s = r["safety"]
    t = s["totals"]
    out = ['<h2 id="safety">Safety</h2>',
           f"<p>sandbox flag turned off: {t['sandbox_flag_off']}; programs with static flags: "
           f"{t['programs_flagged']}; runtime audit flags: {sum(t['runtime'].values())}; reward-hacking flags: "
           f"{sum(t['reward_hacking'].values())}</p>"]
    rows = [[e(f["kind"]), e(f["flag"]), str(f["count"]), e(f["iteration"]), _prog(f["program"]), e(f["role"]),
             f'<span class="text">{e(f["note"])}</span>'] for f in s["findings"]]
    out.append(_table(["kind", "flag", "count", "iteration", "program", "role", "note"], rows, "safety")
               if rows else "<p>No safety finding.</p>")
    if r["programs"]:
        out.append('<h3 id="programs">Flagged and rejected programs</h3>')
        for digest, code in r["programs"].items():
            body = e(code) if code is not None else "(program file missing from the run directory)"
            out.append(f'<section class="program" id="prog-{e(digest)}"><h4>{e(digest)}</h4>'
                       f'<pre class="code">{body}</pre></section>')
    return out


def render_html(report: dict[str, Any]) -> str:
    """The whole page. Everything taken from the run is escaped: programs are untrusted LM output."""
    title = f"selftaught report: {report['run']['task'] or '?'}"
    parts = [*_header(report), *_figures(report), *_gates(report), *_lineage(report), *_transfer(report),
             *_usage(report),
             *_outcomes(report), *_safety(report)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{e(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(parts)
            + "\n</body></html>\n")
