"""`selftaught run --resume RUN_DIR`: the run's config from its manifest, checked against the flags given."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from selftaught.cli._common import CONFIG_KEYS
from selftaught.config import Config, build_config
from selftaught.errors import UserError
from selftaught.store import RunStore
from selftaught.store._status import RESUMABLE, load_manifest, read_run

#: Flags that may differ on resume: they change how the run is carried out (caps, credentials, parallelism, the
#: user's global LM cache), never what it computes. Any other flag must equal the run's own setting.
SAFE_ON_RESUME = frozenset({"max_usd", "max_calls", "api_key_env", "workers", "concurrency", "request_timeout",
                            "max_retries", "cache", "cache_path", "split_secret", "warm_workers"})


def resume_command(run_dir: Path) -> str:
    return f"selftaught run --resume {run_dir}"


def open_resumed(args: argparse.Namespace) -> tuple[Config, RunStore, dict[str, Any], dict[str, Any] | None]:
    """The run's config, its store reopened (torn lines cut), its manifest and its last summary."""
    run_dir = Path(args.resume)
    manifest = load_manifest(run_dir)
    if manifest["format_version"] < 2:
        raise UserError(f"{run_dir} was written by an older selftaught (run format {manifest['format_version']}), "
                        "which kept no journal of its LM calls and evaluations: it cannot be resumed")
    if getattr(args, "config", None):
        raise UserError("--config cannot be combined with --resume: a resumed run keeps the config in its manifest")
    info = read_run(run_dir)
    if info.status == "complete":
        raise UserError(f"{run_dir} is complete: there is nothing to resume")
    if info.status not in RESUMABLE:
        why = f" ({info.reason})" if info.reason else ""
        raise UserError(f"{run_dir} cannot be resumed: it is {info.status}{why}")
    values = dict(manifest["config"])
    for key in CONFIG_KEYS:
        given = getattr(args, key, None)
        if given is None:
            continue
        if key in SAFE_ON_RESUME:
            values[key] = given
        elif _differs(given, values.get(key)):
            flag = "--" + key.replace("_", "-")
            raise UserError(f"{flag} {given} differs from the run's ({values.get(key)}): a resumed run keeps its "
                            f"config (only {', '.join(sorted(SAFE_ON_RESUME - {'split_secret'}))} may change)")
    config = build_config(values)
    store = RunStore(run_dir, resume=True)
    return config, store, manifest, info.summary


def _differs(given: object, recorded: object) -> bool:
    if isinstance(given, tuple) and isinstance(recorded, list):
        return list(given) != recorded
    if isinstance(given, (int, float)) and isinstance(recorded, (int, float)) and not isinstance(given, bool):
        return float(given) != float(recorded)
    return given != recorded


def check_secret(manifest: dict[str, Any], record: dict[str, Any], run_dir: Path) -> None:
    """Refuses to resume with another split secret than the run's (its instances, hence its scores, would change)."""
    if (manifest.get("split_secret") or {}).get("fingerprint") != record.get("fingerprint"):
        raise UserError(f"the split secret differs from the one {run_dir} was run with (its fingerprint is in "
                        "manifest.json): set SELFTAUGHT_SPLIT_SECRET or --split-secret to that secret to resume it")
