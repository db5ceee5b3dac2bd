"""`--estimate`, `--latency`, `--yes`: a command priced before it starts, and a priced model started only when asked."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from selftaught.cli._common import Reporter, config_from, emit
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.forecast import (
    DEFAULT_LATENCY,
    Estimate,
    estimate_compare,
    estimate_run,
    estimate_transfer,
    is_priced,
    render,
)
from selftaught.tasks import Task

EstimateFn = Callable[[float], Estimate]  # the command's estimate at a latency (seconds a request)


def add_estimate_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cost estimate")
    g.add_argument("--estimate", action="store_true",
                   help="print the LM calls, requests, samples, tokens, dollars and wall-clock this command would "
                        "use (low / expected / high), and exit: no model is contacted, nothing is started")
    g.add_argument("--latency", type=float, default=DEFAULT_LATENCY, metavar="SECONDS",
                   help=f"seconds one LM request takes, for the estimate's wall-clock (default {DEFAULT_LATENCY:g})")
    g.add_argument("--yes", action="store_true",
                   help="start with a priced model without asking (otherwise the estimate is shown and a terminal "
                        "is asked; without one, the command refuses)")


def gate(args: argparse.Namespace, config: Config, estimate_fn: EstimateFn, reporter: Reporter) -> int | None:
    """Call it once the command's config is known, before anything starts. Returns 0 under `--estimate` (the
    estimate printed, human or `--json`), else None: go on. A priced model (see `selftaught.forecast.is_priced`)
    goes on only with `--yes`, or once a terminal has been shown the estimate and answered y; without a terminal
    it is refused in one line (UserError), as is a "no"."""
    if args.estimate:
        estimate = estimate_fn(args.latency)
        emit(args.json, estimate.to_dict(), render(estimate))
        return 0
    if args.yes or not is_priced(config):
        return None
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UserError(f"{config.lm} is a priced model and this would pay for its tokens: see what it would cost "
                        "with --estimate, then start it with --yes")
    estimate = estimate_fn(args.latency)
    sys.stderr.write(render(estimate) + "\n\n")
    usd = "unknown" if estimate.usd is None else f"${estimate.usd.expected:,.2f} (up to ${estimate.usd.high:,.2f})"
    sys.stderr.write(f"{config.lm}: expected {usd}. start? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise UserError("not started (answer y to start it, or run it with --yes)")
    reporter("started with the user's approval")
    args.yes = True  # approved once: the runs of --repeats do not ask again
    return None


def gate_run(args: argparse.Namespace) -> int | None:
    """The gate of `selftaught run [--repeats K]`; a resumed run was approved when it started, so it is not asked."""
    if args.resume:
        if args.estimate:
            raise UserError("--estimate prices a new run; a resumed run goes on with its own config (drop --resume "
                            "to price the whole run)")
        return None
    config = config_from(args)
    return gate(args, config, lambda latency: estimate_run(config, repeats=args.repeats, latency=latency),
                Reporter(args.json))


def gate_transfer(args: argparse.Namespace, config: Config, improver: str, tasks: Sequence[Task],
                  reporter: Reporter) -> int | None:
    """The gate of `selftaught transfer` (rows a stopped transfer saved are priced too, though they are reused)."""
    return gate(args, config, lambda latency: estimate_transfer(config, improver, tasks, latency=latency), reporter)


def gate_compare(args: argparse.Namespace, config: Config, a: str, b: str, task: Task,
                 reporter: Reporter) -> int | None:
    """The gate of `selftaught compare A B`."""
    return gate(args, config, lambda latency: estimate_compare(config, a, b, task, latency=latency), reporter)
