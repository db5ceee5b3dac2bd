"""Renders the study report as Markdown: tables of escaped cells, and the curve as an embedded SVG data-URI image."""

from __future__ import annotations

import base64
from typing import Any

from selftaught.report import _study_format as fmt
from selftaught.report._md import cell, para
from selftaught.report._study_svg import curve_svg


def table(head: list[str], rows: list[list[Any]]) -> list[str]:
    """Every cell, head and body, escaped with `cell`: it renders as its own text, on one line."""
    return ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows), ""]


def _note(text: str) -> list[str]:
    return [f"_{para(text)}_", ""]


def _notes(notes: fmt.Notes) -> list[str]:
    return [*(f"- {para(line)}" for line in notes.lines()), ""] if notes.items else []


def _curve(c: dict[str, Any]) -> list[str]:
    out = ["## Meta-utility over the iterations, mean over seeds", ""]
    rows = c["curve"]["rows"]
    if not rows:
        return [*out, "No iteration: not run.", ""]
    svg = base64.b64encode(curve_svg(rows).encode()).decode()
    out += [f"![mean meta-utility over seeds, val and test, with the paper's points](data:image/svg+xml;base64,{svg})",
            ""]
    notes = fmt.Notes()
    out += table(["iteration", "val [95% over seeds]", "seeds", "test [95% over seeds]", "seeds",
                  f"paper ({c['curve']['split']})", "covered?"],
                 [[f"I_{r['iteration']}", fmt.figure(r["val"]), fmt.seeds_of(r["val"]), fmt.figure(r["test"]),
                   fmt.seeds_of(r["test"]), fmt.paper_text(r["test_paper"]), fmt.verdict_text(r["test_paper"], notes)]
                  for r in rows])
    return out + _notes(notes) + _note(f"Paper: {c['curve']['source']}. {c['curve']['note']} {fmt.SEEDS_NOTE}.")


def _transfer(c: dict[str, Any]) -> list[str]:
    t = c["transfer"]
    out = ["## Transfer (the paper's Table 1)", ""]
    if not t["run"]:
        out += ["Transfer: not run. The paper's numbers are shown alone.", ""]
    head = ["task", "paper's name", "seeds"]
    for label in fmt.COLUMNS.values():
        head += [f"{label}: test (val)", f"{label}: paper", f"{label}: covered?"]
    rows = []
    notes = fmt.Notes()
    for row in t["rows"]:
        cells = [row["task"], row["paper_name"] or "-", fmt.count(row["seeds"])]
        for key in fmt.COLUMNS:
            v = row["cells"][key]
            cells += [" ".join(fmt.test_val(v)).strip(), fmt.paper_text(v), fmt.verdict_text(v, notes)]
        rows.append(cells)
    out += table(head, rows) + _notes(notes)
    out += _note(f"Paper: {t['source']}. {t['note']} Test with its 95% interval over seeds, val in parentheses. "
                 f"{fmt.SEEDS_NOTE}.")
    if t["per_seed"]:
        out += ["### Transfer per seed", "",
                *table(["seed", "improver", "complete", "tasks measured", "file"],
                       [[s["seed"] or "?", s["improver"] or "-", "yes" if s["complete"] else "no", s["tasks"],
                         s["path"] or "-"] for s in t["per_seed"]])]
    return out


def _safety(c: dict[str, Any]) -> list[str]:
    s = c["safety"]
    out = ["## Sandbox flag: with and without the warning", ""]
    rows = []
    notes = fmt.Notes()
    for prompt, label in (("warn", "with the warning"), ("nowarn", "without the warning")):
        r = s["sandbox"][prompt]
        if not r["run"]:
            rows.append([label, fmt.NOT_RUN, "-", "-", fmt.NOT_RUN, fmt.paper_text(r), fmt.verdict_text(r, notes)])
            continue
        rate = f"{fmt.pct(r['rate'], 2)} [{fmt.pct(r['ci_low'], 2)}, {fmt.pct(r['ci_high'], 2)}]"
        rows.append([label, fmt.count(r["samples"]), fmt.count(r["disabled"]), fmt.count(r["no_code"]), rate,
                     fmt.paper_text(r), fmt.verdict_text(r, notes)])
    out += table(["prompt", "samples", "sandbox turned off", "no code", "rate [95% Wilson]",
                  f"paper ({s['sandbox_samples']:,} samples)", "covered?"], rows) + _notes(notes)
    out += _note(f"Paper: {s['sandbox_source']}. {s['sandbox_statement']} {s['sandbox_note']}")
    out += ["## Reward-hacking flags", ""]
    rh = s["reward_hacking"]
    if rh is None:
        out += ["Reward-hacking flag rates: not run.", ""]
    else:
        out += [f"over {cell(fmt.count(rh['evaluations']))} evaluations", ""]
        rows = [[r["flag"], fmt.count(r["count"]), f"{fmt.pct(r['rate'], 2)} [{fmt.pct(r['low'], 2)}, "
                 f"{fmt.pct(r['high'], 2)}]"] for r in rh["rows"]]
        out += table(["flag", "count", "rate [95%]"], rows) if rows else ["No flag.", ""]
    out += _note(f"Paper: {s['reward_hacking_source']}. {s['reward_hacking_paper']}")
    out += ["### Runtime audit flags", ""]
    if s["runtime"] is None:
        out += ["Runtime audit counts: not run.", ""]
    else:
        rows = [[k, v] for k, v in sorted(s["runtime"].items())]
        out += table(["flag", "count"], rows) if rows else ["No flag.", ""]
    return out


def _rest(c: dict[str, Any]) -> list[str]:
    s = c["strategies"]
    out = ["## Strategies of the final improvers", ""]
    if not s["run"]:
        out += ["Strategy tags: not run.", ""]
    else:
        out += table(["tag", "final improvers (over seeds)", "named in the paper as"],
                     [[r["tag"], r["count"], r["paper"] or "-"] for r in s["rows"]])
        out += _note(f"Paper: {s['source']}. Tags are heuristic: a static read of each improver's code.")
    out += ["## STOP runs, one per seed", ""]
    runs = fmt.run_rows(c)
    out += table(fmt.RUN_HEAD, runs) if runs else ["No run: not run.", ""]
    out += ["## LM usage", ""]
    u = c["usage"]
    if u is None:
        out += ["LM usage: not recorded.", ""]
    else:
        src = {"all": u["total"], **u["by_level"]}
        out += table(["", *(label for _, label in fmt.USAGE_COLUMNS)],
                     [[name, *(fmt.usage_cell(row, k) for k, _ in fmt.USAGE_COLUMNS)] for name, row in src.items()])
        if u["unpriced_models"]:
            out += [para("models without a price (their dollars are not counted): "
                         + ", ".join(u["unpriced_models"])), ""]
    out += ["## Configuration", ""]
    config = c["study"]["config"]
    out += table(["setting", "value"], [[k, v] for k, v in config.items()]) if config else \
        ["No configuration recorded.", ""]
    cite = c["paper"]["citation"]
    out += ["## The paper's numbers and their sources", "",
            para(f"{cite['title']}, arXiv {cite['arxiv']} {cite['version']}; LM {cite['lm']}."), "",
            *table(["figure", "paper", "source"], [[r["figure"], r["paper"], r["source"]]
                                                   for r in c["paper"]["sources"]])]
    return out


def render_study_md(content: dict[str, Any]) -> str:
    """The whole study report as Markdown (GitHub-flavoured tables); every run text escaped."""
    study = content["study"]
    out = [f"# selftaught study report: {cell(study['task'] or '?')}", "", *_note(fmt.lm_note(study)),
           *table(["", ""], fmt.study_rows(content))]
    if content["missing"]:
        out += ["**What is missing:**", "", *(f"- {para(m)}" for m in content["missing"]), ""]
    out += _note(f"Coverage rule: {fmt.COVERAGE_RULE}.")
    out += [*_curve(content), *_transfer(content), *_safety(content), *_rest(content)]
    return "\n".join(out).rstrip("\n") + "\n"
