"""Resuming a run (`run --resume RUN_DIR`): the run's config from its manifest, checked against the settings given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from selftaught.config import CONFIG_KEYS, DEFAULT, Config, build_config
from selftaught.errors import UserError
from selftaught.lm._journal import check_journal
from selftaught.store import RunStore
from selftaught.store._progress import cap_reached, recorded_progress
from selftaught.store._status import RESUMABLE, load_manifest, read_run
from selftaught.tasks import load_split_secret

#: Flags that may differ on resume: they change how the run is carried out (caps, credentials, parallelism, the
#: user's global LM cache), never what it computes. Any other flag must equal the run's own setting.
SAFE_ON_RESUME = frozenset({"max_usd", "max_calls", "api_key_env", "workers", "concurrency", "request_timeout",
                            "max_retries", "cache", "cache_path", "split_secret", "warm_workers"})


def resume_command(run_dir: Path) -> str:
    return f"selftaught run --resume {run_dir}"


def open_resumed(run_dir: Path, given: dict[str, Any], *, config_file: str | None = None
                 ) -> tuple[Config, RunStore, dict[str, Any], dict[str, Any] | None]:
    """The run's config, its store reopened (torn lines cut), its manifest and its last summary.

    `given`: the settings asked for now (config key -> value; None = not given): those in SAFE_ON_RESUME replace
    the run's, any other must equal it.

    Every refusal (a complete run, one already at its cap, a changed config, a damaged LM journal) comes before
    the store is opened: a refused resume leaves every file of the run as it was.
    """
    manifest = load_manifest(run_dir)
    if manifest["format_version"] < 2:
        raise UserError(f"{run_dir} was written by an older selftaught (run format {manifest['format_version']}), "
                        "which kept no journal of its LM calls and evaluations: it cannot be resumed")
    if config_file:
        raise UserError("--config cannot be combined with --resume: a resumed run keeps the config in its manifest")
    info = read_run(run_dir)
    if info.status == "complete":
        raise UserError(f"{run_dir} is complete: there is nothing to resume")
    if info.status not in RESUMABLE:
        why = f" ({info.reason})" if info.reason else ""
        raise UserError(f"{run_dir} cannot be resumed: it is {info.status}{why}")
    allowed = ", ".join(sorted(SAFE_ON_RESUME - {"split_secret"}))
    config = build_config(resumed_settings(
        manifest["config"], given, SAFE_ON_RESUME,
        lambda flag, value, recorded: f"{flag} {value} differs from the run's ({recorded}): a resumed run keeps its "
                                      f"config (only {allowed} may change)"))
    check_secret(manifest, load_split_secret(config.split_secret).record(), run_dir)
    _refuse_at_cap(run_dir, config, info.summary)
    check_journal(run_dir / "lm-cache.sqlite")
    store = RunStore(run_dir, resume=True)
    return config, store, manifest, info.summary


def _refuse_at_cap(run_dir: Path, config: Config, summary: dict[str, Any] | None) -> None:
    """Refuses to resume a run already at a cap it would resume with: its replay would stop at the cap, before
    the work it had done past it (calls in flight when it was reached), and save less than the run has."""
    progress = recorded_progress(run_dir, summary)
    reached = cap_reached(progress, config.max_calls, config.max_usd)
    stop = _cap_it_stopped_at(summary)
    if reached is None and stop is not None:
        # Stopped by a cap before reaching it (each call reserves its worst case first): the same cap stops the
        # replay at the same call, so it is reached all the same
        cap, limit = stop
        now = config.max_calls if cap == "max_calls" else config.max_usd
        if now is not None and now <= limit:
            reached = (f"--max-calls {now}, and it has made {progress.calls} LM calls" if cap == "max_calls" else
                       f"--max-usd {now:g}, and it has spent ${progress.cost_usd:.4f}; it stopped at --max-usd "
                       f"{limit:g} because the next call might cost more than was left")
    if reached is None:
        return
    if reached.startswith("--max-calls"):
        raise_it = f"--max-calls N with N above {max(progress.calls, config.max_calls or 0)}"
    else:
        raise_it = f"--max-usd X with X above {max(progress.cost_usd, config.max_usd or 0):.4f}"
    raise UserError(f"{run_dir} is already at its cap ({reached}): nothing more can be done without raising it; "
                    f"to continue the run: {resume_command(run_dir)} {raise_it}")


def _cap_it_stopped_at(summary: dict[str, Any] | None) -> tuple[str, float] | None:
    """(cap, value) of the cap a capped run stopped at, as its summary records it (None: not capped, or unknown)."""
    if not isinstance(summary, dict) or summary.get("status") != "capped":
        return None
    stop = summary.get("capped_at")
    if not isinstance(stop, dict) or stop.get("cap") not in ("max_calls", "max_usd"):
        return None
    limit = stop.get("limit")
    if not isinstance(limit, (int, float)) or isinstance(limit, bool):
        return None
    return str(stop["cap"]), float(limit)


def resumed_settings(recorded: dict[str, Any], given: dict[str, Any], safe: frozenset[str],
                     refusal: Callable[[str, Any, Any], str]) -> dict[str, Any]:
    """The settings something resumed goes on with: its `recorded` config, with the settings `given` now (None: not
    given) that are `safe` to change; any other given one that differs is refused with `refusal(flag, value,
    recorded value)`. A setting an older run did not record (`adopt`, say) had its default then."""
    values = dict(recorded)
    for key in CONFIG_KEYS:
        value = given.get(key)
        if value is None:
            continue
        # a setting added after it was recorded was its default then (the maximizer, iterate: docs/formulations.md)
        was = values.get(key, getattr(DEFAULT, key))
        if key in safe:
            values[key] = value
        elif differs(value, was):
            flag = "--tasks" if key == "transfer_tasks" else "--" + key.replace("_", "-")
            raise UserError(refusal(flag, value, was))
    return values


def differs(given: object, recorded: object) -> bool:
    """Whether a setting given now differs from the one recorded (JSON turned its tuples into lists)."""
    if isinstance(given, (tuple, list)) and isinstance(recorded, list):
        return list(given) != recorded
    if isinstance(given, (int, float)) and isinstance(recorded, (int, float)) and not isinstance(given, bool):
        return float(given) != float(recorded)
    return given != recorded


def check_secret(manifest: dict[str, Any], record: dict[str, Any], run_dir: Path) -> None:
    """Refuses to resume with another split secret than the run's (its instances, hence its scores, would change)."""
    if (manifest.get("split_secret") or {}).get("fingerprint") != record.get("fingerprint"):
        raise UserError(f"the split secret differs from the one {run_dir} was run with (its fingerprint is in "
                        "manifest.json): set SELFTAUGHT_SPLIT_SECRET or --split-secret to that secret to resume it")
