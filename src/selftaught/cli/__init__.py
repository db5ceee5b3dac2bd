"""The command line: `main(argv) -> int`, one module per command group."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from selftaught.cli import _compare, _improve, _report, _run, _runs, _safety, _sandbox, _score, _tasks, _transfer
from selftaught.cli._common import Parser
from selftaught.cli._signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, exit_now_if_stragglers
from selftaught.errors import RunLimitReached, SelftaughtError, UserError

COMMANDS = (_tasks, _score, _improve, _run, _runs, _transfer, _compare, _sandbox, _safety, _report)


def build_parser() -> Parser:
    parser = Parser(prog="selftaught", description="Self-Taught Optimizer: improve programs, then the improver.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status. User mistakes print one line, never a traceback."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad flag (already reported on one line)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.handler(args))
    except UserError as exc:
        sys.stderr.write(f"selftaught: error: {exc}\n")
        return 2
    except RunLimitReached as exc:
        sys.stderr.write(f"selftaught: stopped: {exc}\n")
        return 4
    except SelftaughtError as exc:  # an infrastructure fault, or e.g. a refusal outside any improver (a study)
        sys.stderr.write(f"selftaught: failure: {exc}\n")
        return 3
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        sys.stderr.write(f"selftaught: {'terminated' if terminated else 'interrupted'}\n")
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def run() -> None:
    """Console-script entry point."""
    code = main()
    exit_now_if_stragglers(code)
    raise SystemExit(code)
