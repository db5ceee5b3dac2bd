"""`selftaught transfer`: an improver on other tasks, against the seed improver (the paper's table)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from selftaught.broker import Services
from selftaught.cli._common import (
    Reporter,
    add_run_flags,
    backend_warnings,
    config_from,
    emit,
    read_program,
    require_entrypoint,
    sandbox_record,
    services_for,
)
from selftaught.cli._estimate import add_estimate_flags, gate_transfer
from selftaught.cli._signals import sigterm_interrupts
from selftaught.errors import SelftaughtError
from selftaught.improver import seed_improver
from selftaught.stop.transfer import TransferRow, task_fingerprint, transfer
from selftaught.store._transfer import TransferFile, default_path, transfer_key
from selftaught.tasks import Task, get_task, load_split_secret


def register(sub: Any) -> None:
    p = sub.add_parser("transfer", help="evaluate an improver on other tasks against the seed improver")
    p.add_argument("improver", help="improver file (e.g. improvers/I_3.py of a run)")
    p.add_argument("--tasks", dest="transfer_tasks", help="comma-separated tasks (default: the paper's five)")
    p.add_argument("--out", metavar="FILE",
                   help="where each task's row is saved as it is finished (the --json object; default: "
                        "RUNS_DIR/transfer-<improver>-<key>.json, the key naming the improver, config and split "
                        "secret); run the same command again (after Ctrl-C, say) and the rows saved there are reused")
    add_run_flags(p)
    add_estimate_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    with sigterm_interrupts():
        return _handle(args)


def _handle(args: argparse.Namespace) -> int:
    config = config_from(args)
    improver = read_program(args.improver, "improver")
    require_entrypoint(improver, "improve_algorithm", args.improver)
    tasks = [get_task(name) for name in config.transfer_tasks]
    reporter = Reporter(args.json)
    if (code := gate_transfer(args, config, improver, tasks, reporter)) is not None:  # --estimate, or not approved
        return code
    seed = seed_improver()
    key = transfer_key(improver, seed, config.to_dict(), load_split_secret(config.split_secret).fingerprint)
    results = TransferFile(Path(args.out) if args.out else default_path(config.runs_dir, args.improver, key), key)
    fingerprints = {task.name: task_fingerprint(task) for task in tasks}
    finished = _reused(results, tasks, fingerprints)
    if finished:
        reporter.warn(f"reusing {len(finished)} finished row(s) ({', '.join(finished)}) saved in {results.path} by a "
                      "transfer with the same arguments; delete that file to measure them again")
    reporter(f"transfer results: {results.path}")
    services = services_for(config, reporter)

    def output(rows: list[TransferRow] | None = None) -> dict[str, Any]:
        return _output(args.improver, rows, services)

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
            reporter.warn(f"transfer stopped; its {results.rows} finished row(s) are saved in {results.path}: run "
                          "the same command again to measure only the others")
        else:
            reporter.warn("transfer stopped before any task's row was finished: nothing is saved")
        raise
    finally:
        services.close(wait=not abandoned)
    data = output(rows)
    results.close(data, order, stopped=None)
    for warning in data["warnings"]:
        reporter.warn(warning)
    lines = ["test split, percent (val in parentheses)",
             f"{'task':<32} {'u(s)':>14} {'I_0':>14} {'improver':>14}"]
    for r in rows:
        lines.append(
            f"{r.task:<32} {100 * r.seed_utility:>6.1f} ({100 * r.seed_utility_val:>5.1f})"
            f" {100 * r.meta_utility_seed_improver:>6.1f} ({100 * r.meta_utility_seed_improver_val:>5.1f})"
            f" {100 * r.meta_utility_improver:>6.1f} ({100 * r.meta_utility_improver_val:>5.1f})"
        )
    emit(args.json, data, "\n".join(lines))
    return 0


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


def _output(improver: str, rows: list[TransferRow] | None, services: Services) -> dict[str, Any]:
    """What `--json` prints (the results file holds it too); `rows` None: the file fills them in."""
    return {"improver": improver, "rows": [r.record() for r in rows or []], "counters": dict(services.counters),
            "sandbox": sandbox_record(services.sandbox_choice), "usage": services.usage_report(),
            "split_secret": services.secret.record(), "warnings": backend_warnings(services.backend)}
