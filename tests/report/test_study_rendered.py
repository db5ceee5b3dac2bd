"""The study report's HTML page rendered in headless Chromium: the curve has a point per iteration and split, drawn
higher for a higher figure, with the paper's points; Table 1 has every row of the paper's; the verdicts show; nothing
is fetched, no console error is logged, and hostile text creates no element."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from report.studies import EXPECTED, TEST, hostile_record, interrupted_record, study_record
from report.study_browser import rendered_study
from report.test_markdown_inert import PAYLOAD
from selftaught.report import load_paper, write_study_report

TITLE = "selftaught study report: parity_noise"


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[str]]:
    paths = write_study_report(study_record(), tmp_path_factory.mktemp("study-page"))
    return rendered_study(paths.html)


def test_the_page_is_self_contained_and_logs_nothing(page: tuple[dict[str, Any], list[str]]) -> None:
    shown, console = page
    assert shown["title"] == TITLE
    assert shown["scripts"] == shown["images"] == shown["iframes"] == shown["external"] == 0
    assert console == []


def test_the_console_check_sees_a_blocked_request(tmp_path: Path) -> None:
    """The control for the test above: a page that tries to fetch an image logs the blocked request."""
    paths = write_study_report(study_record(), tmp_path)
    html = paths.html.read_text().replace("<body>", '<body><img src="http://evil.example/x.png">', 1)
    paths.html.write_text(html)
    _, console = rendered_study(paths.html)
    assert any("evil.example" in line for line in console)


def test_the_curve_has_a_point_per_iteration_and_split_drawn_by_value(
        page: tuple[dict[str, Any], list[str]]) -> None:
    shown, _ = page
    assert shown["svgs"] == 1
    marks = shown["marks"]
    assert sorted((m["iteration"], m["split"]) for m in marks) == [(t, s) for t in TEST for s in ("test", "val")]
    for m in marks:
        assert m["w"] > 0 and m["h"] > 0
        if m["split"] == "test":
            assert m["value"] == pytest.approx(sum(TEST[m["iteration"]]) / len(TEST[m["iteration"]]), abs=1e-6)
            assert m["seeds"] == len(TEST[m["iteration"]])
    for a in marks:
        for b in marks:
            if a["value"] > b["value"] + 1e-9:
                assert a["y"] < b["y"]  # a higher meta-utility is drawn higher
            if a["split"] == b["split"] and a["iteration"] < b["iteration"]:
                assert a["x"] < b["x"]
    assert sorted((b["split"], b["from"], b["to"]) for b in shown["bands"]) == [("test", 0, 3), ("val", 0, 3)]


def test_the_papers_points_sit_beside_ours_with_their_verdicts(page: tuple[dict[str, Any], list[str]]) -> None:
    shown, _ = page
    paper = load_paper()
    points = {p["iteration"]: p for p in shown["paper"]}
    assert sorted(points) == [0, 1, 2, 3]
    test_marks = {m["iteration"]: m for m in shown["marks"] if m["split"] == "test"}
    for t, point in points.items():
        assert point["value"] == pytest.approx((paper.curve[t].value or 0) / 100)
        assert point["verdict"] == EXPECTED[("curve", t)]
        assert abs(point["x"] - test_marks[t]["x"]) < 30  # beside our test point
    assert points[1]["y"] > test_marks[1]["y"]  # the paper's 62.5% below our 70.8%
    assert [row["verdicts"] for row in shown["curve"]] == [[EXPECTED[("curve", t)]] for t in range(4)]


def test_every_row_of_table_1_is_there_with_its_verdicts(page: tuple[dict[str, Any], list[str]]) -> None:
    shown, _ = page
    paper = load_paper()
    rows = shown["transfer"]
    assert [r["key"] for r in rows] == [row.task for row in paper.transfer]
    for row, paper_row in zip(rows, paper.transfer, strict=True):
        assert row["visible"] and row["cells"][0].splitlines() == [paper_row.task, paper_row.paper_name]
        assert row["verdicts"] == [EXPECTED[(paper_row.task, key)] for key in ("seed_utility", "I_0", "I_T")]
        shown_numbers = [row["cells"][i] for i in (3, 6, 9)]
        assert shown_numbers == [paper_row.cells[key].text() for key in ("seed_utility", "I_0", "I_T")]
        assert "(val " in row["cells"][2]
    assert [r["verdicts"] for r in shown["sandbox"]] == [[EXPECTED[("sandbox", "warn")]],
                                                          [EXPECTED[("sandbox", "nowarn")]]]


def test_a_study_stopped_early_renders_what_exists(tmp_path: Path) -> None:
    shown, console = rendered_study(write_study_report(interrupted_record(), tmp_path).html)
    assert console == [] and len(shown["marks"]) == 8 and len(shown["transfer"]) == 5
    assert all(row["cells"][2] == "not run" for row in shown["transfer"])
    assert "transfer: not run" in shown["missing"] and "Transfer: not run." in shown["text"]


def test_hostile_text_creates_no_element_and_shows_as_text(tmp_path: Path) -> None:
    name = PAYLOAD.replace("\n", " ")[:160]
    shown, console = rendered_study(write_study_report(hostile_record(PAYLOAD, name), tmp_path).html)
    assert shown["title"].startswith("selftaught study report: boom ![x]")  # no script ran
    assert shown["scripts"] == shown["images"] == shown["injected"] == shown["external"] == 0
    assert console == []
    assert "<img src=x onerror=alert(1)>" in shown["text"] and "<script>alert(1)</script>" in shown["text"]
    assert [r["key"] for r in shown["transfer"]][-1] == name.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
