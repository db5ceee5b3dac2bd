"""The seed improver I_0 and the meta-utility's description, read from data files."""

from __future__ import annotations

from importlib import resources


def _data(name: str) -> str:
    return resources.files("selftaught.improver").joinpath("data", name).read_text(encoding="utf-8")


def seed_improver() -> str:
    """I_0: one batch of samples of the seed prompt, each scored, the best returned."""
    return _data("seed_improver.py")


def meta_utility_description(*, budget: int, downstream_runs: int, lm_budget: int, max_responses: int,
                             maximizer: bool = False) -> str:
    """The text the LM sees as the meta-utility's `utility.str` (a grey-box description); under the maximizer
    formulation it says the downstream runs start from the empty solution."""
    text = _data("meta_utility_description.txt")
    for key, value in {
        "{algorithm_str}": _data(f"algorithm_str_{'maximizer' if maximizer else 'seed'}.txt"),
        "{budget}": budget,
        "{downstream_runs}": downstream_runs,
        "{lm_budget}": lm_budget,
        "{max_responses}": max_responses,
    }.items():
        text = text.replace(key, str(value))
    return text
