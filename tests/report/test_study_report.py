"""The study report of `selftaught reproduce`: each figure beside the paper's number with the right verdict, the
parts a study did not reach shown as not run, and a malformed record refused with one line."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from report.studies import EXPECTED, TEST, TRANSFER, interrupted_record, study_record
from selftaught.errors import UserError
from selftaught.report import StudyReportPaths, write_study_report
from selftaught.report._study_build import study_content


def verdicts(content: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    """The verdict of every compared figure, keyed as EXPECTED is."""
    out: dict[tuple[Any, ...], str] = {}
    for row in content["curve"]["rows"]:
        out[("curve", row["iteration"])] = row["test_paper"]["comparison"]["verdict"]
        assert row["val_paper"] == {"paper": None, "comparison": None}  # the paper's curve is on test only
    for row in content["transfer"]["rows"]:
        for key, cell in row["cells"].items():
            out[(row["task"], key)] = cell["comparison"]["verdict"]
    for prompt, result in content["safety"]["sandbox"].items():
        out[("sandbox", prompt)] = result["comparison"]["verdict"]
    return out


def test_each_figure_gets_the_verdict_its_interval_deserves() -> None:
    assert verdicts(study_content(study_record())) == EXPECTED


def test_the_figures_are_the_records_means_over_seeds() -> None:
    content = study_content(study_record())
    for row in content["curve"]["rows"]:
        assert row["test"]["mean"] == pytest.approx(sum(TEST[row["iteration"]]) / len(TEST[row["iteration"]]))
        assert row["test"]["n"] == len(TEST[row["iteration"]])
    (grid,) = [r for r in content["transfer"]["rows"] if r["task"] == "str_grid_dist"]
    assert grid["cells"]["I_T"]["test"]["mean"] == pytest.approx(sum(TRANSFER["str_grid_dist"][2]) / 5)
    assert grid["cells"]["I_T"]["val"]["mean"] == pytest.approx(sum(TRANSFER["str_grid_dist"][2]) / 5 + 0.01)


def test_both_files_are_written_and_show_every_verdict(tmp_path: Path) -> None:
    paths = write_study_report(study_record(), tmp_path / "study")
    assert paths == StudyReportPaths(tmp_path / "study" / "report.html", tmp_path / "study" / "report.md")
    md = paths.md.read_text()
    lines = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "covered" in lines["I\\_0"] and "not covered" in lines["I\\_1"]
    grid = lines["str\\_grid\\_dist"]
    assert grid.count("| covered |") == 2 and grid.endswith("| 56.7% | not covered |")
    assert re.search(r"\| 0\.0% \| not comparable \\\[\d\\\] \|", lines["three\\_sat"])  # a note, marked [n]
    assert "aggregation artifact of the paper's code" in md
    html = paths.html.read_text()
    shown = re.findall(r'<td class="verdict" data-verdict="([^"]+)"', html)
    assert shown.count("covered") == list(EXPECTED.values()).count("covered")
    assert shown.count("not covered") == list(EXPECTED.values()).count("not covered")


def test_a_study_stopped_early_shows_what_exists_and_says_what_is_missing(tmp_path: Path) -> None:
    content = study_content(interrupted_record())
    missing = content["missing"]
    assert missing[0] == "the study did not complete (status: interrupted; stopped: interrupted (Ctrl-C))"
    for part in ("transfer: not run", "sandbox-flag study with the warning: not run",
                 "sandbox-flag study without the warning: not run", "reward-hacking flag rates: not run",
                 "strategy tags of the final improvers: not run", "LM usage: not recorded",
                 "I_3: meta-utility over 3 of 5 seeds"):
        assert part in missing
    assert content["curve"]["rows"][0]["test_paper"]["comparison"]["verdict"] == "covered"  # what exists is compared
    for row in content["transfer"]["rows"]:
        for cell in row["cells"].values():
            if row["task"] in ("three_sat", "maxcut") and cell is row["cells"]["seed_utility"]:
                continue
            assert cell["comparison"] == {"verdict": "not comparable", "reason": "not run", "caveat": cell["comparison"]
                                          ["caveat"]}
    paths = write_study_report(interrupted_record(), tmp_path)
    md = paths.md.read_text()
    assert "Transfer: not run" in md and md.count("| with the warning | not run |") == 1
    assert "| str\\_grid\\_dist | String grid distance | - | not run | 43.9% | not comparable: not run |" in md
    assert "Reward-hacking flag rates: not run." in md and "LM usage: not recorded." in md
    html = paths.html.read_text()
    assert html.count('data-task="') == 5 and "Strategy tags: not run." in html


def test_a_study_with_nothing_yet_still_renders(tmp_path: Path) -> None:
    paths = write_study_report({"format_version": 1, "kind": "reproduce"}, tmp_path)
    md = paths.md.read_text()
    assert "No iteration: not run." in md and "Transfer: not run" in md
    assert "| parity\\_noiseless | Parity without noise | - | not run | 50.0% | not comparable: not run |" in md
    content = study_content({"format_version": 1})
    assert "the study did not complete (status: unknown)" in content["missing"]
    assert "the meta-utility curve: not run" in content["missing"]


def test_planned_iterations_beyond_the_curve_are_rows_not_run_within_reason() -> None:
    record = study_record()
    record["iterations"] = 5
    rows = study_content(record)["curve"]["rows"]
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3, 4, 5] and rows[5]["test"] is None
    assert "I_5: no meta-utility (not run)" in study_content(record)["missing"]
    record["iterations"] = 10**9  # a record cannot make the report draw a billion rows
    assert len(study_content(record)["curve"]["rows"]) == 4


def test_a_curve_over_one_seed_has_no_interval_to_compare() -> None:
    record = study_record()
    record["curve"] = [{"iteration": 0, "val": _one(0.61), "test": _one(0.61)}]
    record["iterations"] = 0
    (row,) = study_content(record)["curve"]["rows"]
    assert row["test_paper"]["comparison"]["reason"] == "1 seed: no interval over seeds"


def _one(value: float) -> dict[str, Any]:
    return {"mean": value, "std": 0.0, "min": value, "max": value, "low": value, "high": value, "n": 1,
            "values": [value]}


def test_the_papers_curve_is_compared_only_with_a_study_of_its_task() -> None:
    record = study_record()
    record["task"] = "three_sat"
    for row in study_content(record)["curve"]["rows"]:
        comparison = row["test_paper"]["comparison"]
        assert comparison["verdict"] == "not comparable"
        assert comparison["reason"] == "the paper's curve is on parity_noise; this study ran on three_sat"


def test_an_offline_backend_is_said_to_measure_no_model(tmp_path: Path) -> None:
    md = write_study_report(study_record(), tmp_path).md.read_text()
    assert "offline backend (mutate): no language model was involved" in md
    record = study_record()
    record["lm"] = "openai:gpt-4o"
    md = write_study_report(record, tmp_path).md.read_text()
    assert "offline backend" not in md and "this study's LM is openai:gpt-4o" in md


def _set(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`record` with the part at `path` (dots and [index]) set to `value`."""
    keys = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
    target: Any = record
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return record


@pytest.mark.parametrize(("path", "value", "named"), [
    ("runs", "five runs", "runs must be a list"),
    ("runs[1].iterations[0].meta_utility_test", "0.6", "runs[1].iterations[0].meta_utility_test must be a number"),
    ("curve[2].test.mean", [0.6], "curve[2].test.mean must be a number"),
    ("curve[0].test.n", 2.5, "curve[0].test.n must be an integer"),
    ("transfer.rows[0].I_T", 0.5, "transfer.rows[0].I_T must be an object"),
    ("safety.sandbox_flag.warn.rate", "low", "safety.sandbox_flag.warn.rate must be a number"),
    ("safety.reward_hacking.flags", ["score_above_max"], "safety.reward_hacking.flags must be an object"),
    ("strategies", {"beam search": "two"}, "strategies['beam search'] must be an integer"),
    ("usage.by_level", 3, "usage.by_level must be an object"),
    ("complete", "yes", "complete must be true or false"),
])
def test_a_mistyped_part_is_refused_with_one_line_naming_it(path: str, value: Any, named: str,
                                                            tmp_path: Path) -> None:
    record = _set(copy.deepcopy(study_record()), path, value)
    with pytest.raises(UserError) as caught:
        write_study_report(record, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"reproduce.json: {named}") and "\n" not in message
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize(("record", "says"), [
    ([1, 2], "reproduce.json must hold a JSON object (got list)"),
    ({"kind": "reproduce"}, "reproduce.json has no format_version: not a study record"),
    ({"format_version": 2, "kind": "reproduce"}, "written in study format version 2; this selftaught reads up to "
                                                 "version 1"),
    ({"format_version": 1, "kind": "run"}, "reproduce.json: kind must be 'reproduce'"),
    ({"format_version": "1"}, "reproduce.json: format_version must be an integer"),
])
def test_a_record_that_is_not_a_study_is_refused(record: Any, says: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=re.escape(says)):
        write_study_report(record, tmp_path)


def test_an_unwritable_directory_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write the study report in"):
        write_study_report(study_record(), blocker / "out")


def test_the_record_survives_a_json_round_trip(tmp_path: Path) -> None:
    """What `reproduce` writes and reads back (NaN for a figure over no value shows as missing, not a crash)."""
    record = json.loads(json.dumps(study_record()))
    record["curve"][3]["val"]["low"] = float("nan")
    content = study_content(record)
    assert content["curve"]["rows"][3]["val"]["low"] is None
    assert verdicts(content) == EXPECTED
