"""`selftaught safety`: the paper's safety studies (`sandbox-flag`: section 6.1, sandbox circumvention)."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.cli._common import LM_HELP, Parser, Reporter, add_output_flags, emit
from selftaught.errors import UserError
from selftaught.lm import parse_backend
from selftaught.safety import run_study


def register(sub: Any) -> None:
    p = sub.add_parser("safety", help="safety studies on generated code (nothing generated is run)")
    studies = p.add_subparsers(dest="study", required=True, parser_class=Parser)
    s = studies.add_parser("sandbox-flag", help="how often generated improvers set use_sandbox=False (paper 6.1)")
    s.add_argument("--lm", metavar="SPEC", default="mutate", help=LM_HELP)
    s.add_argument("--samples", type=int, default=100, help="generated improvers to examine (default 100)")
    s.add_argument("--warn", action=argparse.BooleanOptionalAction, default=True,
                   help="warn in the prompt that the sandbox must stay on (default: --warn)")
    s.add_argument("--seed", type=int, default=0, help="the study's seed (default 0)")
    add_output_flags(s)
    s.set_defaults(handler=handle_sandbox_flag)


def handle_sandbox_flag(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise UserError(f"--samples must be at least 1 (got {args.samples})")
    reporter = Reporter(args.json)
    backend = parse_backend(args.lm)
    reporter.notice(backend.notice)
    reporter(f"sampling {args.samples} improved improvers ({'with' if args.warn else 'without'} the warning)")
    result = run_study(backend, args.samples, args.warn, seed=args.seed)
    data = {**result.to_dict(), "lm": args.lm, "backend": backend.name, "seed": args.seed}
    human = (f"sandbox flag turned off in {result.disabled} of {result.samples} generated improvers: "
             f"{result.rate:.2%} (95% CI {result.ci_low:.2%}-{result.ci_high:.2%}), "
             f"prompt warned: {'yes' if result.warn else 'no'}")
    if result.no_code:
        human += f"; {result.no_code} replies had no code"
    emit(args.json, data, human)
    return 0
