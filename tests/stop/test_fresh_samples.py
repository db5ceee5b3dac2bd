"""Reported figures come from fresh LM samples: measuring I_t never replays the samples it was selected with."""

from __future__ import annotations

import re
from pathlib import Path

from selftaught.broker import Services
from selftaught.config import Config
from selftaught.improver import seed_improver
from selftaught.stop import self_improve
from selftaught.stop.transfer import transfer
from selftaught.store import RunStore, read_events
from selftaught.tasks import get_task
from support import TEST_SECRET, NumberedBackend

DATA = Path(__file__).resolve().parent.parent / "data"
TAG = re.compile(r"# sample (\d+):(\d+)")


def draws(run_dir: Path, purpose: str) -> set[tuple[str, str]]:
    """The LM draws behind the solutions that were scored for `purpose` (read from the stored programs)."""
    found = set()
    for e in read_events(run_dir):
        if e["kind"] == "utility_call" and e.get("purpose") == purpose and e.get("program"):
            found.update(TAG.findall((run_dir / "programs" / f"{e['program']}.py").read_text()))
    return found


def test_measuring_an_improver_never_replays_its_selection_samples(tmp_path: Path) -> None:
    config = Config(downstream_runs=2, max_responses_per_call=2, lm_budget=2, utility_budget=6,
                    meta_utility_budget=3, workers=2)
    store = RunStore(tmp_path / "run")
    services = Services(config, NumberedBackend(), store=store, secret=TEST_SECRET)
    history = self_improve(services, get_task("lpn"), seed_improver(), 1)
    store.close()
    events = read_events(tmp_path / "run")
    selected, measured = draws(tmp_path / "run", "select"), draws(tmp_path / "run", "measure")
    assert len(selected) >= 4 and len(measured) >= 4
    assert not selected & measured  # no sample the improver saw is in a reported figure
    assert {str(e["stream"]).split("/")[0] for e in events if e["kind"] == "lm_call"} == {"stop", "select", "measure"}
    assert history[1].improver != history[0].improver and not history[1].kept_previous
    # both numbers are recorded: what the improver saw when it chose I_1, and I_1's fresh measurement
    assert history[0].selection_score is None and history[1].selection_score is not None
    chosen = next(e for e in events if e["kind"] == "iteration" and e["iteration"] == 1)
    assert chosen["selection_score"] == history[1].selection_score
    assert chosen["meta_utility_val"] == history[1].meta_utility_val


def test_transfer_figures_are_drawn_apart_from_selection_and_measurement(tmp_path: Path) -> None:
    config = Config(downstream_runs=1, max_responses_per_call=2, lm_budget=1, utility_budget=4)
    store = RunStore(tmp_path / "run")
    services = Services(config, NumberedBackend(), store=store, secret=TEST_SECRET)
    rows = transfer(services, (DATA / "better_improver.py").read_text(), seed_improver(), [get_task("lpn")])
    store.close()
    events = read_events(tmp_path / "run")
    assert len(rows) == 1 and draws(tmp_path / "run", "transfer")
    row = rows[0]  # each test figure with its interval
    for value, bounds in ((row.seed_utility, row.seed_utility_ci),
                          (row.meta_utility_improver, row.meta_utility_improver_ci),
                          (row.meta_utility_seed_improver, row.meta_utility_seed_improver_ci)):
        assert bounds is not None and bounds[0] <= value <= bounds[1]
    assert {str(e["stream"]).split("/")[0] for e in events if e["kind"] == "lm_call"} == {"transfer"}
