"""The paper's published numbers as shipped (report/data/paper.toml), and the coverage rule that sets ours beside
them: covered, not covered, or not comparable with a reason."""

from __future__ import annotations

import pytest

from selftaught.report import load_paper
from selftaught.report._coverage import COVERED, NOT_COMPARABLE, NOT_COVERED, Estimate, compare, paper_range
from selftaught.report._paper import TRANSFER_COLUMNS, PaperNumber, parse_paper
from selftaught.tasks import builtin_tasks

#: Table 1 of arXiv 2310.02304 (test u(s) / I_0 / I_T, percent), as SPEC.md restates it.
TABLE_1 = {"str_grid_dist": (43.9, 44.3, 56.7), "modified_quadratic_assignment": (20.4, 20.6, 22.1),
           "three_sat": (0.0, 21.2, 75.1), "maxcut": (0.0, 58.7, 74.2), "parity_noiseless": (50.0, 59.3, 81.7)}


def test_every_task_the_paper_reports_is_one_of_ours() -> None:
    paper = load_paper()
    ours = builtin_tasks()
    assert paper.curve_task in ours and paper.curve_task == "parity_noise"
    assert [row.task for row in paper.transfer] == list(TABLE_1)
    assert all(task in ours for task in TABLE_1)


def test_table_1_is_the_published_table() -> None:
    paper = load_paper()
    for row in paper.transfer:
        assert tuple(row.cells[key].value for key in TRANSFER_COLUMNS) == TABLE_1[row.task]
        for cell in row.cells.values():
            assert "Table 1" in cell.source and cell.tolerance == 0.05 and not cell.approximate


def test_only_the_aggregation_artifacts_are_not_comparable() -> None:
    paper = load_paper()
    artifacts = {(row.task, key) for row in paper.transfer for key, cell in row.cells.items() if cell.not_comparable}
    assert artifacts == {("three_sat", "seed_utility"), ("maxcut", "seed_utility")}
    for task in ("three_sat", "maxcut"):
        row = paper.transfer_row(task)
        assert row is not None and "aggregation artifact" in str(row.cells["seed_utility"].not_comparable)
        assert row.cells["I_0"].caveat and row.cells["I_T"].caveat  # compared, with the reason to take care


def test_the_curve_is_read_off_a_figure_and_says_so() -> None:
    paper = load_paper()
    assert sorted(paper.curve) == [0, 1, 2, 3] and paper.curve_split == "test"
    values = [paper.curve[t].value for t in range(4)]
    assert values == sorted(values)  # the paper's GPT-4 curve rises
    assert paper.curve[0].value == 61.0 and 64.0 <= (paper.curve[3].value or 0) <= 65.0
    for point in paper.curve.values():
        assert point.approximate and point.tolerance >= 1.0 and "Figure 4" in point.source
    assert "approximate" in paper.curve_note and "I_1" in paper.curve_note


def test_the_sandbox_rates_are_the_papers_table_with_its_intervals() -> None:
    paper = load_paper()
    assert (paper.sandbox["nowarn"].value, paper.sandbox["nowarn"].low, paper.sandbox["nowarn"].high) == (
        0.42, 0.31, 0.57)
    assert (paper.sandbox["warn"].value, paper.sandbox["warn"].low, paper.sandbox["warn"].high) == (0.46, 0.35, 0.61)
    assert paper.sandbox_samples == 10_000 and "6.1" in paper.sandbox_source
    assert paper.sandbox["warn"].text() == "0.46% [0.35, 0.61]"


def test_every_number_has_a_source_in_the_table_of_sources() -> None:
    rows = load_paper().sources()
    assert len(rows) == 4 + 15 + 2 + 2
    assert all(row["source"] and row["figure"] and row["paper"] for row in rows)


def test_the_strategies_the_paper_names_are_our_tags() -> None:
    from selftaught.report._strategies import TAGS
    named = load_paper().strategies
    assert {s.tag for s in named} <= set(TAGS) and {"beam search", "genetic algorithm"} <= {s.tag for s in named}


def test_a_malformed_paper_file_is_refused() -> None:
    with pytest.raises(ValueError, match=r"paper\.toml"):
        parse_paper("[paper]\ntitle = 1\n")
    with pytest.raises(ValueError, match=r"paper\.toml"):
        parse_paper(load_paper_text().replace('value = 43.9', 'value = "43.9"'))


def load_paper_text() -> str:
    from importlib import resources
    return resources.files("selftaught.report").joinpath("data", "paper.toml").read_text(encoding="utf-8")


def _number(value: float | None = 50.0, tolerance: float = 0.0, **kw: object) -> PaperNumber:
    return PaperNumber(label="x", source="s", value=value, tolerance=tolerance, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.49, 0.51, COVERED),       # the number inside
    (0.50, 0.52, COVERED),       # on the edge
    (0.5001, 0.52, NOT_COVERED),  # just above it
    (0.40, 0.4999, NOT_COVERED),  # just below it
])
def test_an_interval_covers_a_number_when_it_contains_it(low: float, high: float, verdict: str) -> None:
    assert compare(Estimate((low + high) / 2, low, high), _number()).verdict == verdict


def test_the_tolerance_widens_the_papers_number() -> None:
    read_off = _number(61.0, 1.0)
    assert paper_range(read_off) == pytest.approx((0.60, 0.62))
    assert compare(Estimate(0.625, 0.619, 0.63), read_off).verdict == COVERED  # within the read-off uncertainty
    assert compare(Estimate(0.63, 0.621, 0.64), read_off).verdict == NOT_COVERED
    assert "61% ± 1" in compare(Estimate(0.63, 0.621, 0.64), read_off).reason


def test_not_comparable_says_why() -> None:
    assert compare(None, _number()).record() == {"verdict": NOT_COMPARABLE, "reason": "not run", "caveat": None}
    one = compare(Estimate(0.5, None, None, "1 seed: no interval over seeds"), _number())
    assert (one.verdict, one.reason) == (NOT_COMPARABLE, "1 seed: no interval over seeds")
    artifact = compare(Estimate(0.78, 0.77, 0.79), _number(0.0, not_comparable="an aggregation artifact"))
    assert (artifact.verdict, artifact.reason) == (NOT_COMPARABLE, "an aggregation artifact")
    assert compare(Estimate(0.5, 0.4, 0.6), _number(None)).reason == "the paper gives no number"
    assert compare(Estimate(float("nan"), 0.4, 0.6), _number()).reason == "not run"


def test_a_caveat_travels_with_the_verdict() -> None:
    result = compare(Estimate(0.75, 0.74, 0.76), _number(75.1, 0.05, caveat="all-or-nothing per split"))
    assert (result.verdict, result.caveat) == (COVERED, "all-or-nothing per split")


def test_a_bound_is_met_when_the_interval_reaches_its_side() -> None:
    below_one = _number(None, upper=1.0)  # "well under 1%"
    assert compare(Estimate(0.004, 0.002, 0.008), below_one).verdict == COVERED
    assert compare(Estimate(0.02, 0.0099, 0.03), below_one).verdict == COVERED  # low is under 1%
    assert compare(Estimate(0.03, 0.01, 0.05), below_one).verdict == NOT_COVERED  # low = 1% is not under it
    above = _number(None, lower=60.0)
    assert compare(Estimate(0.62, 0.59, 0.65), above).verdict == COVERED
    assert compare(Estimate(0.55, 0.5, 0.6), above).verdict == NOT_COVERED
    assert below_one.text() == "< 1%"


def test_the_docs_list_the_numbers_the_report_compares_with() -> None:
    """docs/report.md's table of sources says what paper.toml holds (a change to one must change the other)."""
    from pathlib import Path
    docs = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text(encoding="utf-8")
    section = docs[docs.index("### The paper's numbers and their sources"):]
    paper = load_paper()
    for row in paper.transfer:
        values = [row.cells[key].value for key in TRANSFER_COLUMNS]
        shown = " / ".join("0 (not comparable)" if row.cells[k].not_comparable else f"{v:g}" if v % 1 else f"{v:.1f}"
                           for k, v in zip(TRANSFER_COLUMNS, values, strict=True) if v is not None)
        assert f"(`{row.task}`)" in section and shown in section, shown
    for t, point in paper.curve.items():
        assert f"meta-utility of I_{t} on LPN (test) | {point.value:.1f} ± {point.tolerance:g} (read off)" in section
    for prompt in ("warn", "nowarn"):
        n = paper.sandbox[prompt]
        assert f"| {n.value:g} [{n.low:g}, {n.high:g}] of 10,000 |" in section
