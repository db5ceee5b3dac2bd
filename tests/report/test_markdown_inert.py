"""Candidate text stays text in the Markdown report: an exception message, a failure kind, a program name, a task
name, anything read from a run directory renders as itself, never as an image, a link, emphasis, a heading, raw
HTML or the end of a fence. Checked structurally: the report of a run full of hostile text parses (CommonMark with
tables and strikethrough) into the same tree as the report of the same run with plain words in those places."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from report.runs import IMPROVER, make_run
from selftaught.cli import main
from selftaught.report import build_report, render_html, render_md

PAYLOAD = ("boom ![x](http://evil.example/t.png) [click](http://evil.example) **VERIFIED meta-utility 0.99** "
           "<img src=x onerror=alert(1)> <b>bold</b> &lt;entity&gt; `code` ~~strike~~ _em_ $x$ | pipe | \\ back \\*\n"
           "# Heading\n> quote\n- item\n1. one\n```\n````\n---\n===\n<script>alert(1)</script>\n"
           "[ref]: http://evil.example\n\x1b[2K\x1b]0;title\x07\u202eevil")
PLAIN = "plain words here"
MARKDOWN = MarkdownIt("commonmark").enable("table").enable("strikethrough")
MARKDOWN.validateLink = lambda url: True  # as permissive as any renderer (markdown-it alone drops svg data URIs)


def hostile_run(root: Path, text: str, name: str) -> Path:
    """A run whose every candidate-controlled field holds `text` (or `name`, where it names a thing)."""
    run = make_run(root)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["task"]["name"] = name
    manifest["config"]["lm"] = text
    (run / "manifest.json").write_text(json.dumps(manifest))
    summary = json.loads((run / "summary.json").read_text())
    record = {"iteration": 1, "improver": name, "meta_utility_val": 0.3, "meta_utility_test": 0.2,
              "selection_score": None, "kept_previous": True, "failure": name, "detail": text}
    summary.update({"complete": False, "stopped": text, "iterations": [*summary["iterations"], record],
                    "usage": {"calls": 1, "by_level": {name: {"calls": 1}}, "by_iteration": {name: {"calls": 1}}}})
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "improvers" / "I_1.py").write_text(f"x = r'''{text}'''\n")
    events = [
        {"kind": "program", "iteration": 1, "program": name, "role": name, "static_flags": {name: 1}},
        {"kind": "sandbox_flag_off", "iteration": 1, "improver": name, "value": text},
        {"kind": "utility_call", "iteration": 1, "purpose": name, "program": name, "cached": False,
         "failure": name, "failures": {name: 1}, "instances": 2, "audit": {name: 1}, "flags": {name: 1}},
        {"kind": "improver_run", "iteration": 1, "stream": "stop/1", "level": "meta", "improver": IMPROVER,
         "failure": None, "solution": name, "audit": {}},
    ]
    with open(run / "events.jsonl", "a") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
    (root.parent / f"{root.name}-transfer.json").write_text(json.dumps({"improver": text, "rows": [{"task": text}]}))
    return run


def shape(tokens: list[Token]) -> list[tuple[Any, ...]]:
    """The parse tree without its text: block tokens, and the kinds of inline tokens (runs of text as one)."""
    out: list[tuple[Any, ...]] = []
    for t in tokens:
        kids: list[str] = []
        for child in t.children or []:
            kind = "text" if child.type in ("text", "text_special") else f"{child.type}:{child.attrs}"
            if not (kids and kind == "text" and kids[-1] == "text"):
                kids.append(kind)
        out.append((t.type, t.tag, t.nesting, tuple(kids)))
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("inert")
    out = {}
    for kind, text, name in (("hostile", PAYLOAD, PAYLOAD.replace("\n", " ")[:160]), ("plain", PLAIN, PLAIN)):
        run = hostile_run(root / kind, text, name)
        out[kind] = render_md(build_report(run, root / f"{kind}-transfer.json"))
    return out


def test_hostile_text_parses_into_the_same_tree_as_plain_words(reports: dict[str, str]) -> None:
    hostile, plain = (shape(MARKDOWN.parse(reports[k])) for k in ("hostile", "plain"))
    assert len(hostile) == len(plain)
    for got, want in zip(hostile, plain, strict=True):
        assert got == want


def test_the_only_images_links_and_html_are_the_reports_own(reports: dict[str, str]) -> None:
    tokens = MARKDOWN.parse(reports["hostile"])
    inline = [c for t in tokens for c in t.children or []]
    images = [c.attrs["src"] for c in inline if c.type == "image"]
    assert len(images) == 2 and all(str(i).startswith("data:image/svg+xml;base64,") for i in images)  # plot, tree
    assert {c.attrs["href"] for c in inline if c.type == "link_open"} == {f"#prog-{IMPROVER}"}
    html_tokens = {t.content.strip() for t in tokens if t.type == "html_block"} | {
        c.content for c in inline if c.type == "html_inline"}
    assert html_tokens <= {"<details><summary>code</summary>", "</details>", f'<a id="prog-{IMPROVER}">', "</a>"}
    styled = [c.content if c.type == "code_inline" else kids[i + 1].content  # what is bold, struck, code
              for kids in (t.children or [] for t in tokens) for i, c in enumerate(kids)
              if c.type in ("strong_open", "em_open", "s_open", "code_inline")]
    assert "measure" in styled and not [s for s in styled if re.match(r"(VERIFIED|strike|em$|code$)", s)]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not [h for h in headings if h.startswith("Heading")]


def test_the_text_still_reads_as_it_was(reports: dict[str, str]) -> None:
    rendered = html.unescape(re.sub(r"<[^>]+>", "", MARKDOWN.render(reports["hostile"])))
    one_line = " ".join(PAYLOAD.split()).replace("\x1b", "\\x1b").replace("\x07", "\\x07").replace("\u202e", "\\u202e")
    assert one_line[:200] in " ".join(rendered.split())  # a cell or heading: the message on one line
    assert "# Heading\n> quote\n- item\n1. one\n```\n````\n---\n===\n<script>alert(1)</script>" in rendered  # fenced


def test_no_control_character_or_unescaped_math_reaches_either_report(reports: dict[str, str],
                                                                     tmp_path: Path) -> None:
    for text in (reports["hostile"], render_html(build_report(hostile_run(tmp_path / "r", PAYLOAD, PAYLOAD)))):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
        assert "\\x1b]0;title\\x07" in text and "\\u202eevil" in text
    outside_fences = re.sub(r"(?ms)^(`{3,})\w*\n.*?^\1$", "", reports["hostile"])
    assert not re.search(r"(?<!\\)\$", outside_fences)  # GitHub renders $...$ as math


def test_the_command_writes_the_same_inert_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = hostile_run(tmp_path / "run", PAYLOAD, PAYLOAD)
    out = tmp_path / "r.md"
    assert main(["report", str(run), "--out", str(out), "--transfer", str(tmp_path / "run-transfer.json")]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[2K" in err  # the run's `stopped` message, noted on stderr
    images = [c for t in MARKDOWN.parse(out.read_text()) for c in t.children or [] if c.type == "image"]
    assert len(images) == 2  # the plot and the lineage tree
