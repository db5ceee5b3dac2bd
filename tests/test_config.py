"""The run config: the paper's defaults, TOML files, flags over files, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from selftaught.config import Config, build_config
from selftaught.errors import ConfigError


def test_defaults_are_the_papers_budgets() -> None:
    c = Config()
    assert (c.lm_budget, c.max_responses_per_call, c.utility_budget, c.meta_utility_budget) == (4, 6, 25, 25)
    assert (c.downstream_runs, c.iterations, c.task) == (5, 3, "parity_noise")


def test_flags_override_the_file_which_overrides_defaults(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('iterations = 7\nseed = 3\n[budgets]\nlm_budget = 2\ntransfer_tasks = ["maxcut"]\n')
    c = build_config({"seed": 9, "iterations": None}, str(f))
    assert (c.iterations, c.seed, c.lm_budget, c.transfer_tasks) == (7, 9, 2, ("maxcut",))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iterations": -1}, "iterations must be at least 0"),
        ({"lm_budget": "four"}, "lm_budget must be an integer"),
        ({"improver_timeout": True}, "improver_timeout must be a number"),
        ({"bogus": 1}, "unknown config key 'bogus'"),
        ({"transfer_tasks": ""}, "transfer_tasks must be a list"),
    ],
)
def test_invalid_values_are_refused_with_the_key_named(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(overrides)


def test_a_broken_toml_file_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("iterations = = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        build_config({}, str(f))
