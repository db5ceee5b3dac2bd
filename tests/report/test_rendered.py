"""The HTML report of a small real run, rendered in headless Chromium: figures, plot marks, lineage, safety links,
and hostile program text shown as text (no script runs, no element is created)."""

from __future__ import annotations

import base64
import difflib
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from report.browser import dump_dom, rendered
from selftaught.cli import main
from selftaught.report import build_report
from selftaught.store import program_hash
from selftaught.tasks._secret import ENV_VAR
from support import TEST_SECRET_TEXT

TITLE = "selftaught report: parity_noise"
HOSTILE = ("def improve_algorithm(initial_solution, utility, language_model):\n"
           "    s = \"</script><script>document.title='pwned'</script>\"\n"
           "    t = '<img src=x onerror=\"document.title=1\"></pre><b id=\"injected\">bold</b>'\n"
           "    return utility(s, use_sandbox=False)\n")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One small offline run (2 iterations, 2 downstream runs), shared by the module's tests."""
    root = tmp_path_factory.mktemp("report-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(root / "config"))
        mp.setenv(ENV_VAR, TEST_SECRET_TEXT)
        status = main(["run", "--iterations", "2", "--downstream-runs", "2", "--max-responses", "2",
                       "--utility-budget", "4", "--meta-utility-budget", "3", "--runs-dir", str(root / "runs"),
                       "--json"])
    assert status == 0
    (run,) = (root / "runs").iterdir()
    yield run


@pytest.fixture(scope="module")
def page(run_dir: Path) -> dict[str, Any]:
    assert main(["report", str(run_dir)]) == 0
    return rendered(run_dir / "report.html")


def test_the_point_estimates_are_the_recorded_figures(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    report = build_report(run_dir)
    assert len(report["figures"]) == 3 and not report["warnings"]
    for fig, recorded in zip(report["figures"], summary["iterations"], strict=True):
        for split in ("val", "test"):
            assert fig[split]["mean"] == recorded[f"meta_utility_{split}"]
            assert fig[split]["low"] <= fig[split]["mean"] <= fig[split]["high"] and fig[split]["runs"] == 2
        assert fig["selection_score"] == recorded["selection_score"]


def test_the_table_shows_each_figure_with_its_interval_and_selection_score(run_dir: Path,
                                                                            page: dict[str, Any]) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    head, *rows = page["figures"]
    assert head[:8] == ["iteration", "val", "val 95% CI", "val Hoeffding", "test", "test 95% CI", "test Hoeffding",
                        "selection score (val)"]
    assert len(rows) == 3
    for row, recorded in zip(rows, summary["iterations"], strict=True):
        assert row[0] == f"I_{recorded['iteration']}"
        assert row[1] == f"{recorded['meta_utility_val']:.4f}" and row[4] == f"{recorded['meta_utility_test']:.4f}"
        low, high = (float(v) for v in row[2].split(" to "))
        assert low <= float(row[1]) <= high
        assert row[3] == "±0.960"  # Hoeffding, n = 2 downstream runs
        s = recorded["selection_score"]
        assert row[7] == ("-" if s is None else f"{s:.4f}")


def test_the_plot_draws_each_iterate_higher_when_its_meta_utility_is_higher(page: dict[str, Any]) -> None:
    marks, cis = page["marks"], page["cis"]
    assert sorted((m["iteration"], m["split"]) for m in marks) == [(t, s) for t in range(3) for s in ("test", "val")]
    for m in marks:
        assert m["w"] > 0 and m["h"] > 0  # rendered, visible
        (ci,) = [c for c in cis if (c["iteration"], c["split"]) == (m["iteration"], m["split"])]
        assert ci["top"] - 1 <= m["y"] <= ci["bottom"] + 1 and abs(ci["x"] - m["x"]) < 1  # the bar through the point
    for a in marks:
        for b in marks:
            if a["value"] > b["value"] + 1e-9:
                assert a["y"] < b["y"]
            if a["split"] == b["split"] and a["iteration"] < b["iteration"]:
                assert a["x"] < b["x"]


def test_the_lineage_shows_each_diff(run_dir: Path, page: dict[str, Any]) -> None:
    for t in (1, 2):
        before = (run_dir / "improvers" / f"I_{t - 1}.py").read_text().splitlines()
        after = (run_dir / "improvers" / f"I_{t}.py").read_text().splitlines()
        changed = [line for line in difflib.unified_diff(before, after, lineterm="")
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        shown = page["diffs"][t - 1]
        assert shown[0]["text"] == f"--- I_{t - 1}.py" and shown[1]["text"] == f"+++ I_{t}.py"
        assert [s["text"] for s in shown if s["cls"] in ("add", "del")] == changed
        assert all(s["h"] > 0 for s in shown)
    assert "I_1 accepted" in page["text"] and "sampling + best-of-n" in page["text"]


def test_every_safety_finding_links_to_its_program_shown_in_the_page(run_dir: Path, page: dict[str, Any]) -> None:
    assert page["links"]
    for link in page["links"]:
        assert link["visible"] and link["target"] is not None and link["target"]["h"] > 0
        code = (run_dir / "programs" / f"{link['id'].removeprefix('prog-')}.py").read_text()
        assert code.strip().splitlines()[-1].strip() in link["target"]["text"]


def test_the_page_is_self_contained(page: dict[str, Any]) -> None:
    assert page["title"] == TITLE
    assert page["scripts"] == page["images"] == page["iframes"] == page["external"] == 0


def test_hostile_program_text_renders_as_text(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "hostile"
    shutil.copytree(run_dir, run)
    digest = program_hash(HOSTILE)
    (run / "programs" / f"{digest}.py").write_text(HOSTILE)
    (run / "improvers" / "I_2.py").write_text(HOSTILE)
    with open(run / "events.jsonl", "a") as f:
        f.write(json.dumps({"kind": "program", "iteration": 2, "program": digest, "role": "improver",
                            "static_flags": {"sandbox_off": 1}}) + "\n")
        f.write(json.dumps({"kind": "sandbox_flag_off", "iteration": 2, "level": "meta", "improver": digest,
                            "value": "'<img src=x onerror=alert(1)>'"}) + "\n")
    assert main(["report", str(run)]) == 0
    shown = rendered(run / "report.html")
    assert shown["title"] == TITLE  # no script ran
    assert shown["scripts"] == shown["images"] == shown["injected"] == shown["external"] == 0  # no element created
    (target,) = {json.dumps(link["target"]) for link in shown["links"] if link["id"] == f"prog-{digest}"}
    assert "</script><script>document.title='pwned'</script>" in json.loads(target)["text"]
    assert "onerror=alert(1)" in shown["text"]
    dom = dump_dom(run / "report.html")
    assert f"<title>{TITLE}</title>" in dom and not re.search(r"<(img|script|b)[\s>]", dom)


def test_markdown_has_the_figures_and_a_decodable_plot(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    text = out.read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    for it in summary["iterations"]:
        assert f"| I_{it['iteration']} | {it['meta_utility_val']:.4f} |" in text
    svg = re.search(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", text)
    assert svg is not None
    tree = ET.fromstring(base64.b64decode(svg.group(1)))
    assert len(tree.findall(".//{http://www.w3.org/2000/svg}circle[@class]")) == 6


def test_the_safety_totals_are_the_runs(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert build_report(run_dir)["safety"]["totals"] == summary["safety"]["run"]
