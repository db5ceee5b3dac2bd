"""The determinism contract: a fixed seed and replayed (here: the offline `mutate` backend's deterministic) replies
give the same improvers and the same scores, however busy the machine is.

The task's seed spends 40 ms of CPU per instance against a 0.1 s limit, and its mutants spend more or less. With two
busy processes per core, a call takes about three times its CPU time on the wall clock: charged with wall clock (as
before), most of the run's scores changed under that load; charged with CPU time, none does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cpu_hog import cpu_hog

ROOT = Path(__file__).resolve().parents[2]
TASK = ROOT / "tests" / "data" / "cpu_burn_task.py"


def stop_run(runs_dir: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """One small STOP run; returns its iterations and its utility calls (who called, what, on which split, score)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SELFTAUGHT_SPLIT_SECRET": "determinism"}
    done = subprocess.run([sys.executable, "-m", "selftaught", "run", "--task", str(TASK), "--seed", "3",
                           "--iterations", "1", "--downstream-runs", "2", "--max-responses", "2", "--json",
                           "--runs-dir", str(runs_dir)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = Path(json.loads(done.stdout)["run_dir"])
    summary = json.loads((run_dir / "summary.json").read_text())
    iterations = [(i["iteration"], i["improver"], i["meta_utility_val"], i["meta_utility_test"], i["kept_previous"],
                   i["failure"]) for i in summary["iterations"]]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    calls = sorted((e["iteration"], e.get("level"), str(e.get("improver")), str(e.get("run")), str(e.get("use")),
                    e.get("program"), e["split"], e["score"]) for e in events if e["kind"] == "utility_call")
    return iterations, calls


def test_a_run_gives_the_same_improvers_and_scores_alone_and_beside_a_cpu_hog(tmp_path: Path) -> None:
    alone = stop_run(tmp_path / "alone")
    with cpu_hog(per_core=2):
        busy = stop_run(tmp_path / "busy")
    assert len(alone[0]) == 2 and len(alone[1]) >= 10
    assert any(call[-1] == 1.0 for call in alone[1])  # the seed's 40 ms calls pass (under load too, below)
    assert busy[0] == alone[0]
    assert busy[1] == alone[1]
