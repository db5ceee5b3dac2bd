"""Keyword arguments named like the CLI's flags, turned into a Config (unknown ones refused in one line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selftaught.config import CONFIG_KEYS, Config, build_config
from selftaught.errors import ConfigError
from selftaught.lm import check_spec, spec_source

#: Keyword spellings of flags whose config key differs (`--max-responses`, `--tasks`).
ALIASES = {"max_responses": "max_responses_per_call", "tasks": "transfer_tasks"}


def config_of(flags: dict[str, Any], config_file: str | None = None, *, allowed: tuple[str, ...] = CONFIG_KEYS
              ) -> Config:
    """Defaults, SELFTAUGHT_LM, the config file, then `flags` (None = not given), as the CLI builds its config."""
    overrides: dict[str, Any] = {}
    for name, value in flags.items():
        key = ALIASES.get(name, name)
        if key not in allowed:
            known = sorted({*allowed, *(a for a, k in ALIASES.items() if k in allowed)})
            raise ConfigError(f"unknown argument {name!r} (known: {', '.join(known)})")
        overrides[key] = str(value) if isinstance(value, Path) else value  # a Python caller passes paths
    config = build_config(overrides, config_file)
    check_spec(config.lm, spec_source(overrides.get("lm"), config_file))
    return config


def given_of(flags: dict[str, Any]) -> dict[str, Any]:
    """`flags` by config key (for a resume: the settings asked for now)."""
    out = {ALIASES.get(name, name): str(value) if isinstance(value, Path) else value for name, value in flags.items()}
    unknown = sorted(set(out) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"unknown argument {unknown[0]!r} (known: {', '.join(sorted(CONFIG_KEYS))})")
    return out
