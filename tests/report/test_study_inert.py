"""Text from a study record stays text in both study reports: a hostile task name, strategy tag, flag, LM name or
stop message renders as itself, never as markup. Markdown: the report of a hostile study parses into the same tree as
the report with plain words in those places. HTML: no element or attribute comes from the record."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from report.studies import hostile_record
from report.test_markdown_inert import PAYLOAD, PLAIN, shape
from selftaught.report import write_study_report

MARKDOWN = MarkdownIt("commonmark").enable("table").enable("strikethrough")
MARKDOWN.validateLink = lambda url: True  # as permissive as any renderer
NAME = PAYLOAD.replace("\n", " ")[:160]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    root = tmp_path_factory.mktemp("study-inert")
    out = {}
    for kind, text, name in (("hostile", PAYLOAD, NAME), ("plain", PLAIN, PLAIN)):
        paths = write_study_report(hostile_record(text, name), root / kind)
        out[kind] = {"md": paths.md.read_text(encoding="utf-8"), "html": paths.html.read_text(encoding="utf-8")}
    return out


def test_hostile_markdown_parses_into_the_same_tree_as_plain_words(reports: dict[str, dict[str, str]]) -> None:
    hostile, plain = (shape(MARKDOWN.parse(reports[k]["md"])) for k in ("hostile", "plain"))
    assert len(hostile) == len(plain)
    for got, want in zip(hostile, plain, strict=True):
        assert got == want


def test_the_only_image_is_the_curve_and_there_is_no_link_or_html(reports: dict[str, dict[str, str]]) -> None:
    tokens: list[Token] = MARKDOWN.parse(reports["hostile"]["md"])
    inline = [c for t in tokens for c in t.children or []]
    images = [c.attrs["src"] for c in inline if c.type == "image"]
    assert len(images) == 1 and str(images[0]).startswith("data:image/svg+xml;base64,")
    assert not [c for c in inline if c.type in ("link_open", "html_inline")]
    assert not [t for t in tokens if t.type == "html_block"]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not [h for h in headings if h.startswith("Heading")]


def test_the_hostile_text_still_reads_as_it_was(reports: dict[str, dict[str, str]]) -> None:
    rendered = " ".join(re.sub(r"<[^>]+>", "", MARKDOWN.render(reports["hostile"]["md"])).split())
    assert html.unescape(NAME.replace("\x1b", "\\x1b").replace("\x07", "\\x07"))[:120] in html.unescape(rendered)


def test_no_control_character_reaches_either_report(reports: dict[str, dict[str, str]]) -> None:
    for text in (reports["hostile"]["html"], reports["hostile"]["md"], MARKDOWN.render(reports["hostile"]["md"])):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    for text in (reports["hostile"]["html"], MARKDOWN.render(reports["hostile"]["md"])):
        assert "\\x1b" in text and "title\\x07" in text and "\\u202eevil" in text  # shown as escapes


class _Elements(HTMLParser):
    """Every element and attribute of a page, and the text of its <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs |= {name for name, _ in attrs}
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def test_hostile_html_has_the_same_elements_as_plain_words(reports: dict[str, dict[str, str]]) -> None:
    pages = {}
    for kind in ("hostile", "plain"):
        parser = _Elements()
        parser.feed(reports[kind]["html"])
        pages[kind] = parser
    assert pages["hostile"].tags == pages["plain"].tags
    assert pages["hostile"].attrs == pages["plain"].attrs
    assert not {"script", "img", "iframe", "a"} & pages["hostile"].tags
    assert not {a for a in pages["hostile"].attrs if a.startswith("on")}
    assert pages["hostile"].title.startswith("selftaught study report: boom ![x]")
    assert "&lt;img src=x onerror=alert(1)&gt;" in reports["hostile"]["html"]
