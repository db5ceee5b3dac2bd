"""`selftaught compare A B`: a paired comparison of two improvers, and improver references into run directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftaught.cli import main
from selftaught.stop.compare import compare_scores
from selftaught.stop.meta_utility import DownstreamRun, MetaScore

DATA = Path(__file__).resolve().parent.parent / "data"
BETTER = DATA / "better_improver.py"
IDENTITY = "def improve_algorithm(initial_solution, utility, language_model):\n    return initial_solution\n"
TINY = ["--downstream-runs", "2", "--max-responses", "2", "--utility-budget", "4", "--lm-budget", "1"]


def compare_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status = main(["compare", *argv, "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    data: dict[str, Any] = json.loads(captured.out)
    return data


def fake_run(root: Path, task: str, improvers: list[str]) -> Path:
    """A run directory as `selftaught run` leaves it (only what compare reads)."""
    (root / "improvers").mkdir(parents=True)
    for t, program in enumerate(improvers):
        (root / "improvers" / f"I_{t}.py").write_text(program)
    (root / "manifest.json").write_text(json.dumps({"config": {"task": task}, "task": {"name": task}}))
    return root


def test_an_improver_compared_with_itself_differs_by_zero_with_p_one(capsys: pytest.CaptureFixture[str]) -> None:
    data = compare_json(capsys, str(BETTER), str(BETTER), "--task", "parity_noiseless", *TINY)
    assert data["task"] == "parity_noiseless" and data["split"] == "test"
    assert data["difference"]["mean"] == 0 and data["difference"]["low"] == data["difference"]["high"] == 0
    assert data["p_value"] == 1.0 and not data["significant"]
    assert data["a"]["mean"] == data["b"]["mean"] and data["runs_a"] == data["runs_b"]
    assert data["downstream_runs"] == 2 and data["instances"] == 50
    assert data["verdict"].startswith("no significant difference")


def test_a_clearly_better_improver_wins_with_a_small_p(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    solver = (DATA / "parity_solver.py").read_text()
    script = tmp_path / "s.json"
    script.write_text(json.dumps([f"```python\n{solver}```"]))
    identity = tmp_path / "identity.py"
    identity.write_text(IDENTITY)
    argv = ["--task", "parity_noiseless", "--lm", f"scripted:{script}", *TINY, "--downstream-runs", "6"]
    data = compare_json(capsys, str(identity), str(BETTER), *argv)
    assert data["b"]["mean"] == 1.0 and data["a"]["mean"] < 0.7
    assert data["difference"]["low"] > 0.2 and data["p_value"] == pytest.approx(2 / 64) and data["significant"]
    assert data["verdict"].startswith("B is better than A: +0.")
    # the other way round, and in words
    assert main(["compare", str(BETTER), str(identity), *argv]) == 0
    out = capsys.readouterr().out
    assert "A is better than B: -0." in out and "p = 0.0312" in out


def test_run_references_resolve_and_bring_their_runs_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = fake_run(tmp_path / "run", "parity_noiseless", [IDENTITY, BETTER.read_text()])
    data = compare_json(capsys, f"{run}:I_0", f"{run}:I_1", *TINY)
    assert data["task"] == "parity_noiseless"
    assert data["improvers"]["a"]["path"] == str(run / "improvers" / "I_0.py")
    assert data["improvers"]["b"]["path"] == str(run / "improvers" / "I_1.py")
    # a run alone, RUN:I_T and RUN:last all name its last improver
    data = compare_json(capsys, str(run), f"{run}:I_T", *TINY)
    assert data["improvers"]["a"]["path"] == data["improvers"]["b"]["path"] == str(run / "improvers" / "I_1.py")
    assert data["p_value"] == 1.0
    assert compare_json(capsys, f"{run}:last", f"{run}:I_1", *TINY)["difference"]["mean"] == 0
    assert data["warnings"] == []  # the fake run records no split secret


def test_a_run_made_with_another_split_secret_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = fake_run(tmp_path / "run", "parity_noiseless", [IDENTITY])
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "split_secret": {"fingerprint": "feedface"}}))
    data = compare_json(capsys, f"{run}:I_0", str(tmp_path / "run"), *TINY)
    assert len(data["warnings"]) == 2 and "another split secret (feedface" in data["warnings"][0]


def test_bad_references_get_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = fake_run(tmp_path / "run", "parity_noiseless", [IDENTITY, IDENTITY])
    other = fake_run(tmp_path / "other", "three_sat", [IDENTITY])
    (tmp_path / "empty").mkdir()
    cases = [([str(tmp_path / "nope.py"), str(BETTER)], "no such improver file or run directory"),
             ([f"{tmp_path / 'gone'}:I_1", str(BETTER)], "no such run directory"),
             ([f"{run}:I_7", str(BETTER)], "has no improver I_7 (it has I_0..I_1)"),
             ([f"{run}:7", str(BETTER)], "expected I_<t>, I_T or last"),
             ([str(tmp_path / "empty"), str(BETTER)], "is not a run directory"),
             ([str(run), str(other)], "different tasks (parity_noiseless, three_sat)"),
             ([str(DATA / "parity_solver.py"), str(BETTER)], "does not define improve_algorithm()")]
    for argv, needle in cases:
        assert main(["compare", *argv]) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("selftaught:")]
        assert len(lines) == 1 and lines[0].startswith("selftaught: error:") and needle in lines[0], (argv, err)


def test_a_failed_run_scores_its_failure_on_every_instance() -> None:
    def score(runs: list[DownstreamRun]) -> MetaScore:
        return MetaScore(0.0, 0.0, tuple(runs))

    good = [DownstreamRun("t", i, 1.0, 1.0, None, 1, 1, "s", (1.0,) * 3, (1.0, 1.0, 0.0)) for i in range(2)]
    failed = [DownstreamRun("t", i, 0.0, 0.0, "no_code", 0, 0) for i in range(2)]
    result = compare_scores("t", "test", score(failed), score(good))
    assert result.instances == 3 and result.runs_a == (0.0, 0.0)
    assert result.difference.mean == pytest.approx(2 / 3) and result.p_value == 0.5  # 2 runs: p >= 0.5
    assert "use --downstream-runs 6 or more" in result.verdict()
    with pytest.raises(ValueError):
        compare_scores("t", "test", score(failed), score(good[:1]))
    many = compare_scores("t", "val", score([*failed] * 6), score([*good] * 6))  # 12 runs: p = 2 / 4096
    assert many.p_value == pytest.approx(2 / 4096) and many.instances == 3
    assert many.verdict().startswith("B is better than A: +1.000 [+1.000, +1.000], p < 0.001")


def test_failures_are_reported_per_side() -> None:
    def score(runs: list[DownstreamRun]) -> MetaScore:
        return MetaScore(0.0, 0.0, tuple(runs))

    good = [DownstreamRun("t", i, 1.0, 1.0, None, 1, 1, "s", (1.0,), (1.0,)) for i in range(3)]
    message = "Traceback ...\n  File x\nNameError: name 'helper' is not defined\n"
    broken = [DownstreamRun("t", i, 0.0, 0.0, "exception", 1, 0, detail=message) for i in range(3)]
    some = [good[0], DownstreamRun("t", 1, 0.0, 0.0, "timeout", 1, 0), DownstreamRun("t", 2, 0.0, 0.0, "no_code", 0, 0)]
    result = compare_scores("t", "test", score(good), score(broken))
    assert result.failure_notes() == result.failure_notes(only_broken=True) == [
        "every downstream run of B failed (exception: 3): its figure is the failure score, not a measure of its "
        "solutions; first failure: exception: NameError: name 'helper' is not defined"]
    first = "exception: NameError: name 'helper' is not defined"
    assert result.record()["failures"] == {"a": {"failed_runs": 0, "kinds": {}, "first": None},
                                           "b": {"failed_runs": 3, "kinds": {"exception": 3}, "first": first}}
    partial = compare_scores("t", "test", score(some), score(good))
    assert partial.failure_notes(only_broken=True) == []
    assert partial.failure_notes() == ["2 of 3 downstream runs of A failed (no_code: 1, timeout: 1; each counts the "
                                       "failure score); first failure: timeout: (no message)"]


def test_compare_says_when_one_side_fails_in_every_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def improve_algorithm(initial_solution, utility, language_model):\n    return helper()\n")
    identity = tmp_path / "identity.py"
    identity.write_text(IDENTITY)
    data = compare_json(capsys, str(identity), str(broken), "--downstream-runs", "2")
    assert data["failures"]["a"]["failed_runs"] == 0 and data["failures"]["b"]["failed_runs"] == 2
    assert data["failures"]["b"]["kinds"] == {"exception": 2}
    assert data["failures"]["b"]["first"] == "exception: NameError: name 'helper' is not defined"
    assert [w for w in data["warnings"] if w.startswith("every downstream run of B failed (exception: 2)")]
    assert main(["compare", str(identity), str(broken), "--downstream-runs", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[4].startswith("every downstream run of B failed (exception: 2)") and out[5].startswith("no significant")
