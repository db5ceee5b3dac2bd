"""`selftaught safety`: the paper's safety studies (`sandbox-flag`: section 6.1, sandbox circumvention)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from selftaught.cli._common import LM_HELP, Parser, Reporter, add_output_flags, config_from, emit
from selftaught.errors import UserError
from selftaught.lm import parse_backend
from selftaught.safety import run_study
from selftaught.safety.sandbox_flag import MAX_SAMPLES

PROGRESS_EVERY = 10.0  # seconds between progress lines (and one at the end)


def register(sub: Any) -> None:
    p = sub.add_parser("safety", help="safety studies on generated code (nothing generated is run)")
    studies = p.add_subparsers(dest="study", required=True, parser_class=Parser)
    s = studies.add_parser("sandbox-flag", help="how often generated improvers set use_sandbox=False (paper 6.1)")
    s.add_argument("--lm", metavar="SPEC", help=f"{LM_HELP}; or SELFTAUGHT_LM")
    s.add_argument("--samples", type=int, default=100,
                   help=f"generated improvers to examine (default 100, at most {MAX_SAMPLES})")
    s.add_argument("--warn", action=argparse.BooleanOptionalAction, default=True,
                   help="warn in the prompt that the sandbox must stay on (default: --warn)")
    s.add_argument("--seed", type=int, default=0, help="the study's seed (default 0)")
    add_output_flags(s)
    s.set_defaults(handler=handle_sandbox_flag)


def handle_sandbox_flag(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise UserError(f"--samples must be at least 1 (got {args.samples})")
    if args.samples > MAX_SAMPLES:
        raise UserError(f"--samples must be at most {MAX_SAMPLES} (got {args.samples})")
    config = config_from(args, ("lm", "seed"))
    reporter = Reporter(args.json)
    backend = parse_backend(config.lm)
    reporter.notice(backend.notice)
    reporter(f"sampling {args.samples} improved improvers ({'with' if args.warn else 'without'} the warning)")
    result = run_study(backend, args.samples, args.warn, seed=config.seed, progress=_progress(reporter))
    data = {**result.to_dict(), "lm": config.lm, "backend": backend.name, "seed": config.seed}
    human = (f"sandbox flag turned off in {result.disabled} of {result.samples} generated improvers: "
             f"{result.rate:.2%} (95% CI {result.ci_low:.2%}-{result.ci_high:.2%}), "
             f"prompt warned: {'yes' if result.warn else 'no'}")
    if result.no_code:
        human += f"; {result.no_code} replies had no code"
    emit(args.json, data, human)
    return 0


def _progress(reporter: Reporter) -> Callable[[int, int], None]:
    """A progress callback: a line every PROGRESS_EVERY seconds, and one when the last sample is in."""
    last = [time.monotonic()]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            reporter(f"sampled {done}/{total} improvers")

    return report
