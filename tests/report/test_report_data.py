"""The report's data from hand-made run directories: figures, failed runs, torn and missing files, versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from report.runs import IMPROVER, make_run
from selftaught.cli import main
from selftaught.errors import UserError
from selftaught.report import build_report, render_html, render_md


def test_a_failed_downstream_run_counts_the_failure_score_and_the_figure_matches_the_summary(tmp_path: Path) -> None:
    report = build_report(make_run(tmp_path / "run"))
    fig = report["figures"][0]
    assert fig["val"]["mean"] == fig["recorded_val"] == 0.3 and fig["test"]["mean"] == fig["recorded_test"] == 0.2
    assert fig["val"]["runs"] == 2 and fig["val"]["failed_runs"] == 1 and fig["val"]["run_scores"] == [0.6, 0.0]
    assert fig["val"]["low"] <= 0.3 <= fig["val"]["high"] and fig["val"]["high"] > fig["val"]["low"]
    assert fig["val"]["hoeffding"] == pytest.approx(0.960323, abs=1e-6)  # n = 2 downstream runs
    assert report["outcomes"]["evaluations"]["ok (some instances failed)"] == {"measure": 1}
    assert report["outcomes"]["instances"]["timeout"] == {"measure": 1}
    assert report["outcomes"]["improver_runs"] == {"ok": {"measure": 1}, "timeout": {"measure": 1}}
    audit = [f for f in report["safety"]["findings"] if f["kind"] == "runtime audit"]
    assert audit == [{"kind": "runtime audit", "flag": "file_read", "count": 1, "iteration": 0, "program": IMPROVER,
                      "role": "", "note": "while improving"}]
    assert report["programs"] == {IMPROVER: (tmp_path / "run" / "programs" / f"{IMPROVER}.py").read_text()}
    assert not report["warnings"]


def test_the_intervals_are_seeded(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    assert build_report(run)["figures"] == build_report(run)["figures"]


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    report = build_report(make_run(tmp_path / "run", extra='{"kind": "utility_call", "sco'))
    assert report["figures"][0]["val"]["mean"] == 0.3
    assert any("1 unreadable line" in w for w in report["warnings"])


def test_a_missing_summary_reads_iterations_from_the_events(tmp_path: Path) -> None:
    report = build_report(make_run(tmp_path / "run", summary=False))
    assert [f["iteration"] for f in report["figures"]] == [0] and report["figures"][0]["val"]["mean"] == 0.3
    assert "summary.json is missing" in report["warnings"]
    assert report["usage"]["source"].startswith("events.jsonl")
    assert "summary.json is missing" in render_md(report)


def test_a_partly_written_summary_is_a_warning(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (run / "summary.json").write_text('{"task": "parity_noise", "iterat')
    report = build_report(run)
    assert report["figures"][0]["test"]["mean"] == 0.2
    assert any("summary.json is not valid JSON" in w for w in report["warnings"])


def test_a_newer_format_version_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run", format_version=99)
    with pytest.raises(UserError, match="format version 99"):
        build_report(run)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "upgrade selftaught" in err and "Traceback" not in err


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_what_is_not_a_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str) -> None:
    path = tmp_path / "x"
    if make == "empty":
        path.mkdir()
    elif make == "file":
        path.write_text("hello")
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("selftaught: error:")


def test_json_prints_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run")
    assert main(["report", str(run), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["figures"][0]["val"]["mean"] == 0.3 and data["intervals"]["level"] == 0.95
    assert data["programs"] == [IMPROVER] and "code" not in data["lineage"][0]


def test_markdown_fences_cannot_be_closed_by_a_program(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    hostile = "x = '''\n```\n<script>alert(1)</script>\n'''\n"
    (run / "improvers" / "I_0.py").write_text(hostile)
    text = render_md(build_report(run))
    assert "````python\n" + hostile.rstrip("\n") + "\n````" in text


def test_transfer_results_are_read_from_an_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run")
    transfer = tmp_path / "t.json"
    row = {"task": "maxcut", "seed_utility": 0.1, "meta_utility_seed_improver": 0.2, "meta_utility_improver": 0.3,
           "seed_utility_val": 0.1, "meta_utility_seed_improver_val": 0.2, "meta_utility_improver_val": 0.3}
    transfer.write_text(json.dumps({"improver": "I_1.py", "rows": [row]}))
    assert build_report(run, transfer)["transfer"]["rows"] == [row]
    assert build_report(run)["transfer"] is None
    assert main(["report", str(run), "--transfer", str(tmp_path / "none.json"), "--format", "md"]) == 2  # named
    assert capsys.readouterr().err == (f"selftaught: error: transfer results file not found: {tmp_path / 'none.json'} "
                                       "(make it with `selftaught transfer IMPROVER.py --json > FILE`)\n")
    assert not (run / "report.md").exists()
    transfer.write_text(json.dumps({"improver": "I_1.py", "rows": [{**row, "meta_utility_improver_ci": [0.25, 0.35]}]}))
    assert main(["report", str(run), "--transfer", str(transfer), "--format", "md"]) == 0
    assert "0.3000 [0.2500, 0.3500] (0.3000)" in (run / "report.md").read_text()  # the interval beside the figure


def test_a_kept_iteration_says_why_and_links_its_rejected_candidate(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    candidate = "c3" * 8
    (run / "programs" / f"{candidate}.py").write_text("def improve_algorithm(:\n")
    (run / "improvers" / "I_1.py").write_text((run / "improvers" / "I_0.py").read_text())
    record = {"iteration": 1, "improver": IMPROVER, "meta_utility_val": 0.3, "meta_utility_test": 0.2,
              "selection_score": None, "kept_previous": True, "failure": "no_code", "detail": "no improver returned"}
    with open(run / "events.jsonl", "a") as f:
        f.write(json.dumps({"kind": "improver_run", "iteration": 1, "stream": "stop/1", "level": "meta",
                            "improver": IMPROVER, "failure": None, "solution": candidate, "audit": {}}) + "\n")
        f.write(json.dumps({"kind": "iteration", **record}) + "\n")
    (run / "summary.json").unlink()
    report = build_report(run)
    step = report["lineage"][1]
    assert step["status"] == "kept previous" and step["reason"] == "no_code: no improver returned"
    assert step["candidate"] == candidate and report["programs"][candidate] == "def improve_algorithm(:\n"
    assert step["diff"] == [] and report["figures"][1]["val"]["mean"] == 0.3
    assert f'href="#prog-{candidate}"' in render_html(report) and f'id="prog-{candidate}"' in render_html(report)


def test_records_of_unexpected_shapes_still_give_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text('{"format_version": "x", "task": 5, "config": []}')
    (run / "summary.json").write_text('{"usage": {"by_level": [], "by_iteration": {"a": 1}}, "iterations": [5]}')
    (run / "events.jsonl").write_text("\n".join([
        '{"kind": "iteration", "iteration": 0, "improver": 7, "meta_utility_val": "a"}',
        '{"kind": "utility_call", "purpose": "measure", "run": 0, "split": "val", "score": 0.5, "instance_scores": '
        '"abc", "failures": "x", "instances": "3", "audit": [1], "flags": {"a": "b"}}',
        '{"kind": "improver_run", "stream": "measure/7/t/0", "solution": "zz", "audit": {"x": 1}}',
        '{"kind": "program", "static_flags": {"s": 2}, "program": "../../etc/passwd"}',
        '{"kind": "reward_flag", "val": 1, "test": "q"}', "[1, 2]", '"str"']) + "\n")
    for fmt in ("html", "md"):
        assert main(["report", str(run), "--format", fmt]) == 0
    assert "Traceback" not in capsys.readouterr().err
    report = build_report(run)
    assert report["programs"] == {"../../etc/passwd": None}  # not a hash: never read as a path
