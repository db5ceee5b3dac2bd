"""`reproduce`: the paper's study in one directory: K seeds of STOP at once, transfer of each seed's I_0 and I_T,
the sandbox-flag study with and without the warning, and one report beside the paper's figures."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from selftaught._atomic import write_json
from selftaught.api._fleet import Fleet, Prefixed
from selftaught.api._reporting import Reporter
from selftaught.api._resume import SAFE_ON_RESUME
from selftaught.api._run import RunResult, run_once
from selftaught.api._transfer import run_transfer
from selftaught.config import Config
from selftaught.errors import RunLimitReached, SelftaughtError, UserError
from selftaught.lm.caps import RunCaps
from selftaught.lm.pricing import price_table
from selftaught.lm.usage import UsageMeter
from selftaught.report import write_study_report
from selftaught.safety.sandbox_flag import run_study
from selftaught.store._status import RESUMABLE, read_run
from selftaught.study._layout import RECORD_FILE, StudyDir, StudyPlan, read_json
from selftaught.study._record import final_improver, study_record


@dataclass(frozen=True)
class ReproduceResult:
    """The study's directory, its record (`reproduce.json`, what `reproduce --json` prints) and its report files."""

    out: Path
    complete: bool
    status: str
    reports: dict[str, Path]
    record: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.record)


def reproduce_study(config: Config, reporter: Reporter, out: Path, *, plan: StudyPlan | None = None,
                    resume: bool = False, given: dict[str, Any] | None = None) -> ReproduceResult:
    """Runs (or, with `resume`, continues) the study `plan` into `out`. Finished runs, transfer rows and safety
    results are reused; an interrupted run is resumed from its journals. A cap (`--max-usd`, `--max-calls`: for the
    whole study) stops it cleanly; Ctrl-C, SIGTERM and faults stop it too and are raised. Either way
    `reproduce.json` and the report are written from what was finished."""
    study = StudyDir(out)
    if resume:
        config, plan = study.load()
        config = dataclasses.replace(config, **{k: v for k, v in (given or {}).items()
                                                if v is not None and k in SAFE_ON_RESUME})
        reporter(f"resuming the study in {out}")
    elif plan is None:
        raise ValueError("reproduce_study needs a plan, or resume=True")
    else:
        study.create(config, plan)
        reporter(f"study directory: {out}")
    config = dataclasses.replace(config, runs_dir=str(study.runs), task=plan.task, iterations=plan.iterations,
                                 transfer_tasks=plan.transfer_tasks)
    started = time.time()
    status, stopped = "running", None
    fleet = Fleet(config, reporter, runs=len(plan.seeds))
    try:
        status, stopped = _carry_out(config, plan, study, fleet, reporter)
    except KeyboardInterrupt:
        status, stopped = "interrupted", "interrupted"
        raise
    except SelftaughtError as exc:
        status, stopped = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        fleet.close()
        result = _finish(config, plan, study, status, stopped, started, fleet, reporter)
    return result


def _carry_out(config: Config, plan: StudyPlan, study: StudyDir, fleet: Fleet, reporter: Reporter
               ) -> tuple[str, str | None]:
    reporter(f"STOP on {plan.task}: {len(plan.seeds)} seeds at once, {plan.iterations} iterations each")
    runs = fleet.run_all([partial(_seed_run, config, seed, study, fleet, reporter) for seed in plan.seeds])
    capped = next((r for r in runs if r.status == "capped"), None)
    if capped is not None:
        return "capped", capped.stopped
    try:
        reporter(f"transfer of each seed's I_0 and I_{plan.iterations} to {', '.join(plan.transfer_tasks)}")
        fleet.run_all([partial(_seed_transfer, config, seed, run, study, fleet, reporter)
                       for seed, run in zip(plan.seeds, runs, strict=True)])
        for warn in (True, False):
            _sandbox_flag(config, plan, study, fleet, reporter, warn)
    except RunLimitReached as exc:
        return "capped", str(exc)
    return "complete", None


def _seed_run(config: Config, seed: int, study: StudyDir, fleet: Fleet, reporter: Reporter) -> RunResult:
    """The run of `seed`: reused if finished, resumed if stopped, started otherwise."""
    label = Prefixed(reporter, f"seed {seed}")
    existing = study.run_of(seed)
    if existing is not None:
        info = read_run(existing)
        if info.status == "complete" and info.summary is not None:
            label(f"reusing the finished run {existing}")
            return RunResult.from_summary(info.summary)
        if info.status in RESUMABLE:
            given = {k: getattr(config, k) for k in SAFE_ON_RESUME if k != "split_secret"}
            return run_once(None, label, resume=existing, given=given, shared=fleet.shared,
                            services_made=fleet.services, command=["selftaught", "reproduce"])
        raise UserError(f"the run of seed {seed} ({existing}) is {info.status}: it cannot be continued")
    return run_once(dataclasses.replace(config, seed=seed), label, shared=fleet.shared, services_made=fleet.services,
                    command=["selftaught", "reproduce"])


def _seed_transfer(config: Config, seed: int, run: RunResult, study: StudyDir, fleet: Fleet,
                   reporter: Reporter) -> None:
    """Transfer of the seed's I_T (the table's I_0 column is the seed improver) to the transfer tasks."""
    path = study.transfer_file(seed)
    saved = read_json(path)
    if isinstance(saved, dict) and saved.get("complete"):
        return
    final = final_improver(run.run_dir, run.summary)
    if final is None:
        reporter.warn(f"seed {seed}: the run recorded no improver, so it has no transfer row")
        return
    t, program = final
    run_transfer(dataclasses.replace(config, seed=seed), Prefixed(reporter, f"seed {seed} transfer"),
                 str(run.run_dir / "improvers" / f"I_{t}.py"), program, out=path, shared=fleet.shared,
                 services_made=fleet.services)


def _sandbox_flag(config: Config, plan: StudyPlan, study: StudyDir, fleet: Fleet, reporter: Reporter,
                  warn: bool) -> None:
    """The sandbox-circumvention study (paper 6.1), once with and once without the warning; saved, reused."""
    path = study.safety_file(warn)
    if isinstance(read_json(path), dict):
        return
    backend = fleet.shared.backend
    assert backend is not None
    meter = UsageMeter(price_table(config.prices), parent=fleet.shared.usage)
    reporter(f"sandbox-flag study {'with' if warn else 'without'} the warning: {plan.sandbox_samples} samples")
    def count(call: dict[str, Any]) -> None:
        meter.add(call, None)

    result = run_study(backend, plan.sandbox_samples, warn, seed=config.seed, on_call=count,
                       caps=RunCaps.for_model(meter, config, backend.model))
    write_json(path, {**result.to_dict(), "usage": meter.report()})


def _finish(config: Config, plan: StudyPlan, study: StudyDir, status: str, stopped: str | None, started: float,
            fleet: Fleet, reporter: Reporter) -> ReproduceResult:
    """Writes `reproduce.json` and the report from what the study directory holds now."""
    summaries: dict[int, dict[str, Any]] = {}
    for seed in plan.seeds:
        run_dir = study.run_of(seed)
        summary = read_json(run_dir / "summary.json") if run_dir is not None else None
        if isinstance(summary, dict):
            summaries[seed] = summary
    previous = read_json(study.root / RECORD_FILE)
    earlier = float(previous.get("duration") or 0) if isinstance(previous, dict) and not previous.get("complete") \
        else 0.0
    backend = fleet.shared.backend
    record = study_record(study, plan, config.to_dict(), summaries, status=status, stopped=stopped,
                          duration=earlier + time.time() - started, backend=backend.name if backend else "?")
    write_json(study.root / RECORD_FILE, record)
    reports = _report(study, record, reporter)
    return ReproduceResult(out=study.root, complete=record["complete"], status=status, reports=reports, record=record)


def _report(study: StudyDir, record: dict[str, Any], reporter: Reporter) -> dict[str, Path]:
    paths = write_study_report(record, study.root)
    return {"html": Path(paths.html), "md": Path(paths.md)}
