"""Forecasts: what a command would ask of the language model, priced before it starts, without contacting it.

The estimate reads the same plan the run executes (`_plan`): the seed improver's calls and prompts are found by
running it against a recording model (`_trace`) on the run's real inputs, the budgets come from the config.
See docs/estimate.md.

    estimate_run(config, task=None, *, repeats=1, latency=10.0) -> Estimate
        `selftaught run [--repeats K]`: STOP on `task` (default config.task) for config.iterations steps.
    estimate_transfer(config, improver, tasks=None, *, latency=10.0) -> Estimate
        `selftaught transfer`: `improver` (a program's text) and I_0 on `tasks` (default config.transfer_tasks).
    estimate_compare(config, a, b, task=None, *, latency=10.0) -> Estimate
        `selftaught compare A B`: the two improvers' (texts) downstream runs on `task`.
    estimate_arena(config, improvers, tasks=None, *, latency=10.0) -> Estimate
        `selftaught arena`: every improver (name -> text) on every task (default config.task), at once.
    estimate_sandbox_flag(config, samples, *, warn=True, latency=10.0) -> Estimate
        `selftaught safety sandbox-flag --samples N [--warn/--no-warn]`.
    estimate_reproduce(config, *, seeds, iterations, task=None, transfer_tasks=None, sandbox_samples=0,
                       latency=10.0) -> Estimate
        The paper's study: `seeds` runs, the transfer of each run's I_0 and I_T, the two sandbox-flag studies.
    reproduce_plans(...) -> list[PartPlan], assemble(command, plans, config, latency) -> Estimate
        The same in two steps, for a study layer that composes its own parts.
    is_priced(config) -> bool
        Whether running `config` pays for tokens (a known, non-zero price; not `--cache replay`).

`Estimate.to_dict()` is the `--json` object; `render(estimate)` the table for people. Tasks may be given as
`Task` objects or names. A bad `latency` or count raises UserError.
"""

from selftaught.forecast._billing import is_priced
from selftaught.forecast._figures import Figures
from selftaught.forecast._plan import PartPlan, Work
from selftaught.forecast._range import Range
from selftaught.forecast._render import render
from selftaught.forecast._result import ASSUMPTIONS, Estimate, ItemEstimate, PartEstimate, assemble
from selftaught.forecast._studies import (
    DEFAULT_LATENCY,
    estimate_arena,
    estimate_compare,
    estimate_reproduce,
    estimate_run,
    estimate_sandbox_flag,
    estimate_transfer,
    reproduce_plans,
)

__all__ = [
    "ASSUMPTIONS",
    "DEFAULT_LATENCY",
    "Estimate",
    "Figures",
    "ItemEstimate",
    "PartEstimate",
    "PartPlan",
    "Range",
    "Work",
    "assemble",
    "estimate_arena",
    "estimate_compare",
    "estimate_reproduce",
    "estimate_run",
    "estimate_sandbox_flag",
    "estimate_transfer",
    "is_priced",
    "render",
    "reproduce_plans",
]
