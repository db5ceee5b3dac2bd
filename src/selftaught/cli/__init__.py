"""The command line: `main(argv) -> int`, one module per command group."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from selftaught._text import json_safe, visible
from selftaught.cli import (
    _arena,
    _compare,
    _improve,
    _report,
    _reproduce,
    _run,
    _runs,
    _safety,
    _sandbox,
    _score,
    _tasks,
    _transfer,
)
from selftaught.cli._common import Parser, UsageExit, name_flags
from selftaught.cli._signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, exit_now_if_stragglers
from selftaught.errors import RunLimitReached, SelftaughtError, UserError

COMMANDS = (_tasks, _score, _improve, _run, _runs, _transfer, _compare, _arena, _reproduce, _sandbox, _safety,
            _report)


def build_parser() -> Parser:
    parser = Parser(prog="selftaught", description="Self-Taught Optimizer: improve programs, then the improver.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.register(sub)
    name_flags(parser)
    return parser


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for --json (read before parsing, so a usage error can honour it too)."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def _fail(as_json: bool, kind: str, message: str, status: int) -> int:
    """One line on stderr (`selftaught: KIND: message`); under --json also one JSON object on stdout."""
    line = visible(message, keep="")
    sys.stderr.write(f"selftaught: {kind}: {line}\n" if line else f"selftaught: {kind}\n")
    if as_json:
        record = {"error": message or kind, "kind": kind, "exit": status}
        sys.stdout.write(json_safe(json.dumps(record, ensure_ascii=False)) + "\n")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status. User mistakes print one line, never a traceback; with --json every
    exit also prints one JSON object on stdout (an error: `{"error": ..., "kind": ..., "exit": ...}`)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    as_json = wants_json(arguments)
    try:
        args = parser.parse_args(arguments)
    except UsageExit as exc:
        return _fail(as_json, "error", exc.message, 2)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 2
    as_json = bool(getattr(args, "json", as_json))
    try:
        return int(args.handler(args))
    except UserError as exc:
        return _fail(as_json, "error", str(exc), 2)
    except RunLimitReached as exc:
        return _fail(as_json, "stopped", str(exc), 4)
    except SelftaughtError as exc:  # an infrastructure fault, or e.g. a refusal outside any improver (a study)
        return _fail(as_json, "failure", str(exc), 3)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        kind = "terminated" if terminated else "interrupted"
        return _fail(as_json, kind, "", EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def run() -> None:
    """Console-script entry point."""
    code = main()
    exit_now_if_stragglers(code)
    raise SystemExit(code)

