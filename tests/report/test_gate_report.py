"""The report shows every adoption-gate decision (`run --adopt better`) with its figures, in HTML (rendered in
Chromium) and Markdown; a run without a gate says that it adopted by the paper's rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from report.browser import rendered
from report.runs import IMPROVER, IMPROVER_CODE, make_run
from selftaught.cli import main
from selftaught.report import build_report

CANDIDATES = ("c3" * 8, "d4" * 8)


def gate(candidate: str, incumbent: str, adopted: bool, p: float, mean: float) -> dict[str, Any]:
    return {"adopted": adopted, "incumbent": incumbent, "candidate": candidate, "split": "val", "gate_runs": 8,
            "alpha": 0.05, "p_value": p, "smallest_p": 0.007812,
            "difference": {"mean": mean, "low": mean - 0.05, "high": mean + 0.05, "n": 80, "level": 0.95},
            "incumbent_runs": [0.5] * 8, "candidate_runs": [0.5 + mean] * 8,
            "decision": f"gate: {'adopted I_t' if adopted else 'kept I_{t-1} (I_t not shown better)'}: p = {p}"}


def gated_run(root: Path) -> Path:
    """I_0, then step 1 kept by the gate (p = 0.19), step 2 adopted (p = 0.0078)."""
    run = make_run(root)
    base = {"meta_utility_val": 0.3, "meta_utility_test": 0.2, "selection_score": None, "failure": None}
    records = [json.loads((run / "summary.json").read_text())["iterations"][0],
               {"iteration": 1, "improver": IMPROVER, **base, "kept_previous": True, "detail": "kept",
                "gate": gate(CANDIDATES[0], IMPROVER, False, 0.1875, 0.02)},
               {"iteration": 2, "improver": CANDIDATES[1], **base, "kept_previous": False, "detail": "",
                "gate": gate(CANDIDATES[1], IMPROVER, True, 0.0078, 0.2)}]
    for t, digest in ((1, IMPROVER), (2, CANDIDATES[1])):
        (run / "improvers" / f"I_{t}.py").write_text(IMPROVER_CODE + f"# I_{t}\n")
        (run / "programs" / f"{digest}.py").write_text(IMPROVER_CODE + f"# I_{t}\n")
    (run / "programs" / f"{CANDIDATES[0]}.py").write_text(IMPROVER_CODE + "# rejected\n")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"] |= {"adopt": "better", "gate_runs": 8}
    (run / "manifest.json").write_text(json.dumps(manifest))
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps(summary | {"iterations": records}))
    return run


def test_each_decision_is_in_the_report_data_with_its_figures(tmp_path: Path) -> None:
    report = build_report(gated_run(tmp_path / "run"))
    decisions = report["gates"]["decisions"]
    assert report["gates"]["adopt"] == "better"
    assert [(d["iteration"], d["adopted"], d["p_value"], d["candidate"]) for d in decisions] == [
        (1, False, 0.1875, CANDIDATES[0]), (2, True, 0.0078, CANDIDATES[1])]
    lineage = {step["iteration"]: step for step in report["lineage"]}
    assert lineage[1]["status"] == "kept previous" and lineage[1]["candidate"] == CANDIDATES[0]
    assert lineage[1]["reason"].startswith("gate: kept") and lineage[2]["status"] == "accepted"
    assert CANDIDATES[0] in report["programs"]  # the rejected candidate's code is shown


def test_the_html_page_shows_the_decisions_table(tmp_path: Path) -> None:
    run = gated_run(tmp_path / "run")
    assert main(["report", str(run)]) == 0
    page = rendered(run / "report.html")
    head, *rows = page["gates"]
    assert head[:2] == ["step", "decision"] and len(rows) == 2
    kept, adopted = (dict(zip(head, row, strict=True)) for row in rows)
    assert (kept["step"], kept["decision"], kept["p (sign-flip)"]) == ("I_1", "kept I_{t-1}", "p = 0.188")
    assert (adopted["decision"], adopted["I_t (candidate)"], adopted["I_t - I_{t-1}"]) == (
        "adopted", CANDIDATES[1], "+0.2000")
    assert adopted["95% CI"] == "0.1500 to 0.2500" and adopted["gate runs"] == "8"
    assert "gate: kept I_{t-1}" in page["text"] and "rejected candidate: " + CANDIDATES[0] in page["text"]
    assert page["scripts"] == page["external"] == 0


def test_markdown_shows_the_decisions_and_a_run_without_a_gate_says_so(tmp_path: Path) -> None:
    run = gated_run(tmp_path / "run")
    assert main(["report", str(run), "--format", "md"]) == 0
    text = (run / "report.md").read_text()
    assert "## Adoption" in text and "| I\\_2 | adopted |" in text and "| I\\_1 | kept I\\_{t-1} |" in text
    plain = make_run(tmp_path / "plain")
    assert main(["report", str(plain), "--format", "md"]) == 0
    assert "(--adopt always, the paper's rule): no gate decided" in (plain / "report.md").read_text()
