"""Transfer (`selftaught transfer`): an improver on other tasks against the seed improver (the paper's table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftaught.api._reporting import Reporter
from selftaught.api._resume import SAFE_ON_RESUME as RUN_SAFE_ON_RESUME
from selftaught.api._resume import resumed_settings
from selftaught.api._setup import (
    Shared,
    backend_warnings,
    check_program,
    require_entrypoint,
    sandbox_record,
    services_for,
)
from selftaught.broker import Services
from selftaught.config import Config, build_config
from selftaught.errors import SelftaughtError
from selftaught.improver import seed_improver
from selftaught.stop.formulations import describe
from selftaught.stop.transfer import TransferRow, task_fingerprint, transfer
from selftaught.store._transfer import TransferFile, default_path, read_invocation, transfer_key
from selftaught.tasks import Task, get_task, load_split_secret

#: What may differ when a transfer is resumed from its file: how it is carried out, never what it measures.
SAFE_ON_RESUME = RUN_SAFE_ON_RESUME | {"executor", "ray_address", "speculate"}


@dataclass(frozen=True)
class TransferResult:
    """A transfer's rows and its results file (what `transfer --json` prints, and the file holds)."""

    improver: str
    rows: list[TransferRow]
    path: Path
    complete: bool
    data: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def run_transfer(config: Config, reporter: Reporter, improver_path: str, improver: str, *, out: Path | None = None,
                 shared: Shared | None = None, services_made: list[Services] | None = None) -> TransferResult:
    """`improver` (the program in `improver_path`) and the seed improver on `config.transfer_tasks`; each finished
    row is saved to `out` (default: RUNS_DIR/transfer-<improver>-<key>.json) at once. Rows that file holds for the
    same improver, config and split secret are reused. Ctrl-C, SIGTERM, a cap or a fault stop it, keeping every
    finished row, and are raised."""
    require_entrypoint(improver, "improve_algorithm", improver_path)
    tasks = [get_task(name) for name in config.transfer_tasks]
    seed = seed_improver()
    key = transfer_key(improver, seed, config.to_dict(), load_split_secret(config.split_secret).fingerprint)
    invocation = {"improver": improver_path, "improver_program": improver, "config": config.to_dict(),
                  "tasks": list(config.transfer_tasks)}
    results = TransferFile(out or default_path(config.runs_dir, improver_path, key), key, invocation)
    fingerprints = {task.name: task_fingerprint(task) for task in tasks}
    finished = _reused(results, tasks, fingerprints)
    if finished:
        reporter.warn(f"reusing {len(finished)} finished row(s) ({', '.join(finished)}) saved in {results.path} by a "
                      "transfer with the same arguments; delete that file to measure them again")
    reporter(f"transfer results: {results.path}")
    shared = shared or Shared()
    services = services_for(config, reporter, shared=shared)
    if services_made is not None:
        services_made.append(services)

    def output(rows: list[TransferRow] | None = None) -> dict[str, Any]:
        return _output(improver_path, rows, services, config)

    def keep(task: Task, row: TransferRow) -> None:
        results.add(task.name, fingerprints[task.name], row.record(), output())

    order = [task.name for task in tasks]
    abandoned = False
    try:
        rows = transfer(services, improver, seed, tasks, finished=finished, on_row=keep)
    except (SelftaughtError, KeyboardInterrupt) as exc:  # Ctrl-C, SIGTERM, a cap, a fault: keep the finished rows
        abandoned = True
        services.stop()  # kill the improvers' workers, refuse new work: the other rows are not waited for
        results.close(output(), order, stopped="interrupted" if isinstance(exc, KeyboardInterrupt)
                      else f"{type(exc).__name__}: {exc}")
        if results.rows:
            reporter.warn(f"transfer stopped; its {results.rows} finished row(s) are saved in {results.path}: "
                          f"continue it with: selftaught transfer --resume {results.path}")
        else:
            reporter.warn("transfer stopped before any task's row was finished: nothing is saved")
        raise
    finally:
        services.close(wait=not abandoned)
    data = output(rows)
    results.close(data, order, stopped=None)
    for warning in data["warnings"]:
        reporter.warn(warning)
    return TransferResult(improver=improver_path, rows=rows, path=results.path, complete=True,
                          data=data)


def resume_transfer(path: Path, reporter: Reporter, given: dict[str, Any] | None = None,
                    shared: Shared | None = None) -> TransferResult:
    """Continues the transfer saved in `path` with the improver, config and tasks it was run with (`given`: the
    settings asked for now; only SAFE_ON_RESUME ones may differ)."""
    invocation = read_invocation(path)
    config = build_config(resumed_settings(
        invocation["config"], given or {}, SAFE_ON_RESUME,
        lambda flag, _value, _recorded: f"{flag} differs from the transfer saved in {path}: a resumed transfer keeps "
                                        f"its improver, config and tasks (only {', '.join(sorted(SAFE_ON_RESUME))} "
                                        "may change)"))
    program = check_program(str(invocation["improver_program"]), "improver", str(invocation.get("improver")))
    reporter(f"resuming the transfer saved in {path}")
    return run_transfer(config, reporter, str(invocation.get("improver") or "improver.py"), program, out=path,
                        shared=shared)


def _reused(results: TransferFile, tasks: list[Task], fingerprints: dict[str, str]) -> dict[str, TransferRow]:
    """The rows of `tasks` the results file holds already (measured with the same task code)."""
    out: dict[str, TransferRow] = {}
    for task in tasks:
        record = results.finished(task.name, fingerprints[task.name])
        row = TransferRow.from_record(record) if record is not None else None
        if row is not None:
            out[task.name] = row
    results.reuse(list(out))
    return out


def _output(improver: str, rows: list[TransferRow] | None, services: Services, config: Config) -> dict[str, Any]:
    """What `--json` prints (the results file holds it too); `rows` None: the file fills them in. `formulation`: where
    improver runs start and k, with the budgets of each pass (both improvers are applied alike)."""
    return {"improver": improver, "rows": [r.record() for r in rows or []], "formulation": describe(config),
            "counters": dict(services.counters),
            "sandbox": sandbox_record(services.sandbox_choice), "usage": services.usage_report(),
            "split_secret": services.secret.record(), "warnings": backend_warnings(services.backend)}
