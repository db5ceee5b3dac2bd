"""What a newcomer's first run means: the numbers, their width, and where to go next (printed after `run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selftaught.api._run import RunResult
from selftaught.errors import UserError
from selftaught.stats import hoeffding_halfwidth
from selftaught.store._status import load_manifest

#: What a task's score is, for the tasks whose scale a newcomer cannot guess (others: "the task's utility").
_MEANING = {
    "parity_noise": "accuracy on learning parity with noise (LPN): the fraction of held-out labels predicted right; "
                    "about 0.5 is chance",
    "parity": "accuracy on parity without noise: the fraction of held-out labels predicted right; about 0.5 is chance",
}
OFFLINE = ("mutate", "scripted")


def first_run_notes(result: RunResult) -> list[str]:
    """A few lines on what the table says, for people (never in --json)."""
    summary = result.summary
    config = _config(summary)
    task = str(summary.get("task") or "")
    runs = int(config.get("downstream_runs") or 0)
    meaning = _MEANING.get(task, f"the utility of {task} (in [0, 1], higher is better)")
    lines = ["", f"what the numbers are: the meta-utility of I_t is the mean score of the solutions I_t returned in "
             f"{runs} fresh downstream runs, on val (what a run may select on) and test (held out); the score is "
             f"{meaning}."]
    if runs:
        lines.append(f"why the intervals are wide: Hoeffding's bound treats each of the {runs} downstream runs as one "
                     f"draw in [0, 1], so it is ±{hoeffding_halfwidth(runs):.2f} at 95%; the bootstrap interval "
                     "uses the instances too. More runs (--downstream-runs) or seeds (--repeats) narrow both.")
    lm = str(config.get("lm") or "")
    if lm.split(":", 1)[0] in OFFLINE:
        lines.append(f"no model was used: the offline default ({lm}) rewrites programs by rule, so it is not "
                     "expected to beat chance; it shows the machinery. Use a model with --lm (e.g. "
                     "--lm openai:gpt-4o, --lm anthropic:MODEL, --lm ollama:MODEL; price it first with --estimate).")
    lines.append(f"next: selftaught report {result.run_dir}   (an HTML report of this run)")
    return lines


def _config(summary: dict[str, Any]) -> dict[str, Any]:
    """The run's config, as its manifest records it ({} if it cannot be read: the notes then say less)."""
    try:
        config = load_manifest(Path(str(summary.get("run_dir")))).get("config")
    except UserError:
        return {}
    return config if isinstance(config, dict) else {}
