"""The Python API: every command as a function taking keyword arguments named like its flags, returning a typed
result with `to_dict()` (what the command's `--json` prints); errors are the CLI's (`UserError`, `RunLimitReached`,
`SelftaughtError`), never `SystemExit`. The CLI is one client of these functions.

    import selftaught
    result = selftaught.run(task="parity_noise", iterations=1, lm="mutate", runs_dir="runs", seed=0)
    print(result.iterations[-1]["meta_utility_test"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selftaught.api._arena import ArenaResult, improver_refs, run_arena_command, tasks_of
from selftaught.api._compare import CompareResult, run_compare, task_of
from selftaught.api._flags import config_of, given_of
from selftaught.api._improve import ImproveResult, run_improve
from selftaught.api._load import LoadedRun
from selftaught.api._load import load_run as _load_run
from selftaught.api._refs import resolve
from selftaught.api._repeats import RepeatsResult, run_repeats
from selftaught.api._reporting import ProgressCallback, Reporter
from selftaught.api._reproduce import DEFAULT_SANDBOX_SAMPLES, DEFAULT_SEEDS, plan_estimate, plan_of, run_reproduce
from selftaught.api._run import RunResult, run_once
from selftaught.api._score import ScoreResult, run_score
from selftaught.api._setup import read_program
from selftaught.api._transfer import TransferResult, resume_transfer, run_transfer
from selftaught.config import build_config
from selftaught.errors import UserError
from selftaught.forecast import (
    DEFAULT_LATENCY,
    Estimate,
    estimate_arena,
    estimate_compare,
    estimate_run,
    estimate_transfer,
)
from selftaught.study import ReproduceResult
from selftaught.tasks import get_task

__all__ = [
    "ArenaResult",
    "CompareResult",
    "Estimate",
    "ImproveResult",
    "LoadedRun",
    "ProgressCallback",
    "RepeatsResult",
    "ReproduceResult",
    "RunResult",
    "ScoreResult",
    "TransferResult",
    "arena",
    "compare",
    "estimate",
    "improve",
    "load_run",
    "reproduce",
    "run",
    "score",
    "transfer",
]


def _reporter(progress: ProgressCallback | None) -> Reporter:
    return Reporter(progress)


def run(*, repeats: int = 1, resume: str | Path | None = None, config: str | None = None,
        progress: ProgressCallback | None = None, **flags: Any) -> RunResult | RepeatsResult:
    """STOP (`selftaught run`): `task`, `iterations`, `lm`, `runs_dir`, `seed`, budgets... as keyword arguments
    named like the flags (`max_responses` or `max_responses_per_call`, `lm_budget`, `downstream_runs`, ...).

    `repeats` K > 1: K runs at once with seeds seed..seed+K-1 (a RepeatsResult with their mean curve).
    `resume`: continue the interrupted run in that directory (only caps, credentials and parallelism may change).
    `config`: a TOML config file. `progress`: called with each progress line.
    """
    reporter = _reporter(progress)
    command = ["selftaught.run(...)"]
    if resume is not None:
        if repeats != 1:
            raise UserError("--resume continues one run: it cannot be combined with --repeats")
        return run_once(None, reporter, resume=Path(resume), given=given_of(flags), config_file=config,
                        command=command)
    settings = config_of(flags, config)
    if repeats != 1:
        return run_repeats(settings, reporter, repeats, command=command)
    return run_once(settings, reporter, command=command)


def reproduce(*, seeds: int = DEFAULT_SEEDS, iterations: int | None = None,
              sandbox_samples: int = DEFAULT_SANDBOX_SAMPLES, out: str | Path | None = None,
              resume: str | Path | None = None, config: str | None = None, progress: ProgressCallback | None = None,
              **flags: Any) -> ReproduceResult:
    """The paper's study into one directory `out`: `seeds` runs of STOP at once (`iterations` each, default 3) on
    `task`, transfer of each seed's I_0 and I_T to `tasks`, the sandbox-flag study with and without the warning,
    `reproduce.json` and the report. `resume`: continue the study in that directory."""
    reporter = _reporter(progress)
    if resume is not None:
        return run_reproduce(build_config({}), reporter, resume=Path(resume), given=given_of(flags))
    return run_reproduce(config_of(flags, config), reporter, seeds=seeds, iterations=iterations,
                         sandbox_samples=sandbox_samples, out=Path(out) if out is not None else None)


def transfer(improver: str | Path | None = None, *, out: str | Path | None = None, resume: str | Path | None = None,
             config: str | None = None, progress: ProgressCallback | None = None, **flags: Any) -> TransferResult:
    """An improver file on other tasks (`tasks=[...]`, default the paper's five) against the seed improver; each
    finished row is saved to `out` at once. `resume`: continue the transfer saved in that results file."""
    reporter = _reporter(progress)
    if resume is not None:
        return resume_transfer(Path(resume), reporter, given_of(flags))
    if improver is None:
        raise UserError("transfer needs an improver file (or resume=FILE)")
    settings = config_of(flags, config)
    program = read_program(str(improver), "improver")
    return run_transfer(settings, reporter, str(improver), program, out=Path(out) if out is not None else None)


def compare(a: str | Path, b: str | Path, *, split: str = "test", config: str | None = None,
            progress: ProgressCallback | None = None, **flags: Any) -> CompareResult:
    """Is improver `b` better than `a`? Each an improver file, `RUN_DIR:I_t`, or a run directory (its last
    improver); a paired test on the same instances and downstream seeds (`task` defaults to the runs' task)."""
    refs = [resolve(str(a)), resolve(str(b))]
    settings = task_of(config_of(flags, config), refs, task_given=flags.get("task") is not None)
    return run_compare(settings, _reporter(progress), refs[0], refs[1], split=split)


def arena(improvers: Sequence[str | Path], *, tasks: Sequence[str] | None = None, out: str | Path | None = None,
          config: str | None = None, progress: ProgressCallback | None = None, **flags: Any) -> ArenaResult:
    """Every improver (`"seed"`, a file, `RUN_DIR:I_t`, a run directory) on every task (default `task`) under the
    same budgets and run indices: leaderboards with intervals, and every pair's paired test, Holm-adjusted; written
    to `out` (default RUNS_DIR/arena-<key>.json) with its report (.md, .html) beside it."""
    refs = improver_refs([str(i) for i in improvers])
    settings = config_of(flags, config)
    return run_arena_command(settings, _reporter(progress), refs, tasks_of(settings, tasks),
                             out=Path(out) if out is not None else None)


def score(task: str, solution: str | Path, *, split: str = "val", seed: int = 0, split_secret: str | None = None,
          sandbox: str | None = None, progress: ProgressCallback | None = None) -> ScoreResult:
    """A solution file scored by `task`'s secret utility on `split`, in a sandbox."""
    config_of({"seed": seed}, allowed=("seed",))
    get_task(task)  # an unknown task is named before the file is read, as the CLI does
    program = read_program(str(solution), "solution")
    return run_score(task, program, _reporter(progress), name=str(solution), split=split, seed=seed,
                     split_secret=split_secret, sandbox=sandbox)


def improve(task: str, *, solution: str | Path | None = None, improver: str | Path | None = None,
            config: str | None = None, progress: ProgressCallback | None = None, **flags: Any) -> ImproveResult:
    """One run of `improver` (a file; default the seed improver I_0) on `task` from `solution` (a file; default the
    task's seed solution), with the returned solution's val and test scores."""
    settings = config_of(flags, config)
    initial = read_program(str(solution), "solution") if solution is not None else None
    program = read_program(str(improver), "improver") if improver is not None else None
    return run_improve(settings, _reporter(progress), task, solution=initial, solution_name=str(solution or ""),
                       improver=program, improver_name=str(improver or ""))


def estimate(command: str = "run", *, improver: str | Path | None = None, a: str | Path | None = None,
             b: str | Path | None = None, improvers: Sequence[str | Path] | None = None,
             tasks: Sequence[str] | None = None, repeats: int = 1, seeds: int = DEFAULT_SEEDS,
             iterations: int | None = None,
             sandbox_samples: int = DEFAULT_SANDBOX_SAMPLES, latency: float = DEFAULT_LATENCY,
             config: str | None = None, **flags: Any) -> Estimate:
    """What `command` (`run`, `transfer`, `compare`, `arena` or `reproduce`) would ask of the model, priced, without
    contacting it: the `--estimate` of that command (`improver` for transfer; `a` and `b` for compare; `improvers`
    and `tasks` for arena)."""
    if command == "reproduce":
        settings = config_of(flags, config)
        plan = plan_of(settings, seeds=seeds, iterations=iterations, sandbox_samples=sandbox_samples)
        return plan_estimate(settings, plan, latency)
    if command == "run":
        return estimate_run(config_of({**flags, "iterations": iterations}, config), repeats=repeats,
                            latency=latency)
    if command == "transfer":
        if improver is None:
            raise UserError("estimate('transfer') needs improver=FILE")
        return estimate_transfer(config_of(flags, config), read_program(str(improver), "improver"), latency=latency)
    if command == "arena":
        refs = improver_refs([str(i) for i in improvers or ()])
        settings = config_of(flags, config)
        return estimate_arena(settings, {r.ref: r.program for r in refs}, tasks_of(settings, tasks), latency=latency)
    if command == "compare":
        if a is None or b is None:
            raise UserError("estimate('compare') needs a= and b= (improver files or RUN_DIR:I_t)")
        refs = [resolve(str(a)), resolve(str(b))]
        settings = task_of(config_of(flags, config), refs, task_given=flags.get("task") is not None)
        return estimate_compare(settings, refs[0].program, refs[1].program, latency=latency)
    raise UserError(f"estimate prices run, transfer, compare, arena or reproduce (got {command!r})")


def load_run(run: str | Path, runs_dir: str | Path = "runs") -> LoadedRun:
    """A run directory (or the id of one under `runs_dir`) read back, as `selftaught runs show`."""
    return _load_run(run, runs_dir)
