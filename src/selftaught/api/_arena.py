"""`arena`: every improver on every task under one set of budgets: a leaderboard with intervals and paired tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftaught._atomic import write_json
from selftaught.api._refs import ImproverRef, resolve
from selftaught.api._reporting import Reporter
from selftaught.api._setup import backend_warnings, sandbox_record, services_for
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.report._arena import write_arena_report
from selftaught.stats import pairs_needed, smallest_sign_flip_p
from selftaught.stop.compare import ALPHA
from selftaught.stop.formulations import describe
from selftaught.store import program_hash
from selftaught.store._transfer import HOW_FIELDS
from selftaught.study._arena import Arena, run_arena
from selftaught.tasks import Task, get_task
from selftaught.tasks._groups import expand_groups


@dataclass(frozen=True)
class ArenaResult:
    """What the arena found (`arena`: standings, leaderboards, pairs), where it wrote it, and what `arena --json`
    prints (`to_dict()`)."""

    arena: Arena
    path: Path
    reports: tuple[Path, ...]
    data: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def improver_refs(refs: Sequence[str]) -> list[ImproverRef]:
    """The improvers `refs` name (a library name such as `seed`, a file, `RUN_DIR:I_t`, a run directory), each
    once; one line for a bad one."""
    if not refs:
        raise UserError("an arena needs improvers: --improvers seed,FILE,... or improver files")
    if len(set(refs)) != len(refs):
        twice = sorted({r for r in refs if refs.count(r) > 1})
        raise UserError(f"an improver is named twice: {', '.join(twice)}")
    return [resolve(ref) for ref in refs]


def tasks_of(config: Config, names: Sequence[str] | None) -> list[Task]:
    """The arena's tasks (default: the config's task; a group name, `paper` or `benchmarks`, stands for its tasks);
    an unknown one is refused in one line."""
    chosen = list(names) if names else [config.task]
    if len(set(chosen)) != len(chosen):
        raise UserError(f"a task is named twice: {', '.join(chosen)}")
    return [get_task(name) for name in expand_groups(chosen)]


def default_path(config: Config, refs: Sequence[ImproverRef], tasks: Sequence[Task]) -> Path:
    """RUNS_DIR/arena-<key>.json, the key naming the improvers, tasks, and the settings that change what is measured
    (as a transfer's key: not how it is carried out, `HOW_FIELDS`, so `--workers` or `--concurrency` keep the name)."""
    measured = {k: v for k, v in config.to_dict().items() if k not in HOW_FIELDS}
    key = json.dumps({"improvers": [program_hash(r.program) for r in refs], "tasks": [t.name for t in tasks],
                      "config": measured}, sort_keys=True, default=str)
    return Path(config.runs_dir) / f"arena-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def _power_warnings(arena: Arena, runs: int) -> list[str]:
    """A warning when no pair can be significant: the smallest sign-flip p with `runs` runs, times Holm's factor
    for the smallest p (the number of pairs), is not below alpha."""
    pairs = len(arena.pairs)
    needed = pairs_needed(ALPHA, pairs) if pairs else 0
    if runs >= needed:
        return []
    return [f"with {runs} downstream runs and {pairs} pairs no pair can be significant (the smallest p is "
            f"{smallest_sign_flip_p(runs):.3g}, times {pairs} by Holm's method): use --downstream-runs {needed} or "
            "more"]


def run_arena_command(config: Config, reporter: Reporter, refs: Sequence[ImproverRef], tasks: Sequence[Task], *,
                      out: Path | None = None) -> ArenaResult:
    """The arena of `refs` on `tasks`, written to `out` (JSON) with its report (Markdown and HTML) beside it."""
    path = out or default_path(config, refs, tasks)
    services = services_for(config, reporter)
    try:
        arena = run_arena(services, tasks, {r.ref: r.program for r in refs}, progress=reporter)
    finally:
        services.close()
    data: dict[str, Any] = {
        "arena": arena.record(),
        "improvers": [{"name": r.ref, "path": None if r.path is None else str(r.path),
                       "program": program_hash(r.program), "run_task": r.run_task} for r in refs],
        "budgets": {"downstream_runs": config.downstream_runs, "lm_budget": config.lm_budget,
                    "utility_budget": config.utility_budget, "max_responses": config.max_responses_per_call},
        "formulation": describe(config),
        "lm": config.lm, "seed": config.seed, "purpose": "arena", "counters": dict(services.counters),
        "sandbox": sandbox_record(services.sandbox_choice), "usage": services.usage_report(),
        "split_secret": services.secret.record(),
        "warnings": [*backend_warnings(services.backend), *_power_warnings(arena, config.downstream_runs)],
    }
    write_json(path, data)
    reports = write_arena_report(data, path.with_suffix(""))
    for warning in data["warnings"]:
        reporter.warn(warning)
    reporter(f"arena results: {path} (report: {', '.join(str(p) for p in reports)})")
    return ArenaResult(arena, path, reports, {**data, "path": str(path), "reports": [str(p) for p in reports]})
