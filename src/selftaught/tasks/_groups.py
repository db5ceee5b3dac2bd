"""Named groups of built-in tasks (`paper`, `benchmarks`), accepted wherever a list of tasks is."""

from __future__ import annotations

from collections.abc import Iterable

#: The STOP paper's six tasks, LPN first.
PAPER = ("parity_noise", "parity_noiseless", "str_grid_dist", "modified_quadratic_assignment", "three_sat", "maxcut")
#: The field's benchmark problems (issue 19), in our own code: docs/tasks.md gives each one's source and record.
BENCHMARKS = ("circle_packing", "bin_packing", "tsp", "knapsack")
GROUPS: dict[str, tuple[str, ...]] = {"paper": PAPER, "benchmarks": BENCHMARKS}
GROUP_TITLES = {"paper": "the STOP paper's six tasks",
                "benchmarks": "the field's benchmark problems, with published records"}


def group_of(name: str) -> str | None:
    """The group a built-in task belongs to (None: a user's task file)."""
    return next((group for group, names in GROUPS.items() if name in names), None)


def expand_groups(names: Iterable[str]) -> tuple[str, ...]:
    """`names` with each group name replaced by its tasks, each task once, in the order given."""
    out: list[str] = []
    for name in names:
        for task in GROUPS.get(name.strip().lower(), (name,)):
            if task not in out:
                out.append(task)
    return tuple(out)
