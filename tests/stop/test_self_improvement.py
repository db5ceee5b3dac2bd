"""STOP end to end with the scripted backend: a better improver and a better solution make the meta-utility rise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.store import read_events

DATA = Path(__file__).resolve().parent.parent / "data"
MEDIOCRE = [
    "import numpy as np\ndef algorithm(train_samples, train_parity, test_samples):\n"
    f"    return (np.arange(len(test_samples)) * {k} // 3) % 2\n"
    for k in range(1, 7)
]


def _script(tmp_path: Path) -> Path:
    """Six mediocre solutions then a good one (reached only by an improver that calls more than once)."""
    better = (DATA / "better_improver.py").read_text()
    good = (DATA / "parity_solver.py").read_text()
    entries = [{"match": "def improve_algorithm", "response": f"Use the whole budget.\n```python\n{better}\n```"}]
    for code in [*MEDIOCRE, good]:
        entries.append({"match": "train_parity", "response": f"Idea:\n```python\n{code}```\n"})
    path = tmp_path / "script.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    return path


def test_two_iterations_with_a_better_improver_in_the_script_raise_the_meta_utility(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script(tmp_path)
    status = main([
        "run", "--lm", f"scripted:{script}", "--iterations", "2", "--downstream-runs", "2",
        "--runs-dir", str(tmp_path / "runs"), "--json",
    ])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    its = summary["iterations"]
    assert [it["iteration"] for it in its] == [0, 1, 2]
    assert its[0]["meta_utility_val"] < 0.7  # I_0 sees only the six mediocre samples
    assert its[1]["meta_utility_val"] > its[0]["meta_utility_val"] + 0.25
    assert its[1]["meta_utility_test"] > its[0]["meta_utility_test"] + 0.25  # held-out too
    assert its[2]["meta_utility_val"] >= its[1]["meta_utility_val"]

    run_dir = Path(summary["run_dir"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["iterations"] == 2 and manifest["seed"] == 0
    assert manifest["task"]["name"] == "parity_noise" and "numpy" in manifest["versions"]
    assert "budget" in (run_dir / "improvers" / "I_1.py").read_text()
    assert {p.name for p in (run_dir / "improvers").iterdir()} == {"I_0.py", "I_1.py", "I_2.py"}
    events = read_events(run_dir)
    lm_calls = [e for e in events if e["kind"] == "lm_call"]
    assert {e["level"] for e in lm_calls} == {"meta", "task"}
    assert all(e["messages"] and len(e["replies"]) == len(e["messages"]) for e in lm_calls)
    evaluations = [e for e in events if e["kind"] == "utility_call" and "duration" in e]
    assert {e["split"] for e in evaluations} == {"val", "test"}
    for e in evaluations:
        assert e["program"] is None or (run_dir / "programs" / f"{e['program']}.py").exists()
    assert sum(1 for e in events if e["kind"] == "iteration") == 3
    assert json.loads((run_dir / "summary.json").read_text())["complete"] is True


def test_a_failing_new_improver_keeps_the_previous_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = "```python\ndef improve_algorithm(initial_solution, utility, language_model):\n    return None\n```"
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"match": "def improve_algorithm", "response": broken},
        {"match": "train_parity", "response": f"```python\n{MEDIOCRE[0]}```"},
    ]))
    status = main([
        "run", "--lm", f"scripted:{script}", "--iterations", "1", "--downstream-runs", "1",
        "--runs-dir", str(tmp_path / "runs"), "--json",
    ])
    assert status == 0
    its = json.loads(capsys.readouterr().out)["iterations"]
    assert its[1]["kept_previous"] is True and its[1]["failure"] is not None
    assert its[1]["improver"] == its[0]["improver"]
    assert its[1]["meta_utility_val"] == its[0]["meta_utility_val"]


def test_the_same_seed_reproduces_a_run_with_the_offline_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(seed: str, where: str) -> list[dict[str, object]]:
        status = main(["run", "--iterations", "1", "--downstream-runs", "2", "--max-responses", "3",
                       "--seed", seed, "--runs-dir", str(tmp_path / where), "--json"])
        assert status == 0
        its: list[dict[str, object]] = json.loads(capsys.readouterr().out)["iterations"]
        return [{k: it[k] for k in ("improver", "meta_utility_val", "meta_utility_test")} for it in its]

    first = run("5", "a")
    assert run("5", "b") == first
    assert run("6", "c") != first
