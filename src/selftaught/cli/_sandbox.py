"""`selftaught sandbox run|check`: run a file exactly as candidates run; verify the isolation layers here."""

from __future__ import annotations

import argparse
import math
from typing import Any

from selftaught.api._setup import read_program, sandbox_for, sandbox_record
from selftaught.cli._common import Parser, Reporter, add_output_flags, add_sandbox_flag, emit
from selftaught.errors import UserError
from selftaught.sandbox import MIN_MEMORY_MB, Limits
from selftaught.sandbox._check import check_sandbox
from selftaught.sandbox._run_file import LIMIT_EXIT_CODES, run_file

RUN_EPILOG = (
    "exit status: the program's own exit code when it exited (an uncaught exception: 1); when a limit ended\n"
    "it: " + ", ".join(f"{code} {limit}" for limit, code in sorted(LIMIT_EXIT_CODES.items(), key=lambda kv: kv[1]))
    + ";\nended by a signal that no limit sent: 128 + the signal (137: SIGKILL, e.g. one it sent itself); 2 when\n"
    f"selftaught itself refused (one line on stderr).\nOutput: the last {Limits.output_kb} KiB the program printed; "
    "when it printed more, a first line says how\nmany bytes were cut before them (--json: output_cut)."
)


MAX_TIMEOUT = 7 * 24 * 3600
MAX_MEMORY_MB = 1 << 24


def register(sub: Any) -> None:
    p = sub.add_parser("sandbox", help="run a file in the sandbox, or check the isolation layers")
    inner = p.add_subparsers(dest="sandbox_command", required=True, parser_class=Parser)
    run = inner.add_parser("run", help="run a Python file in the sandbox exactly as candidates are run",
                           description="Runs a Python file as __main__ in a fresh worker, exactly as candidates "
                           "run, and exits with the program's own exit status.",
                           epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("file", help="Python file to run as __main__")
    run.add_argument("--timeout", type=float, default=10.0, help="wall-clock seconds (default 10)")
    run.add_argument("--memory", type=int, default=Limits.memory_mb, metavar="MB",
                     help=f"memory limit in MB (default {Limits.memory_mb}, at least {MIN_MEMORY_MB})")
    add_sandbox_flag(run)
    add_output_flags(run)
    run.set_defaults(handler=handle_run)
    check = inner.add_parser("check", help="report which isolation layers are active, each verified by trying")
    add_sandbox_flag(check)
    add_output_flags(check)
    check.set_defaults(handler=handle_check)


def handle_run(args: argparse.Namespace) -> int:
    if not math.isfinite(args.timeout) or not 0 < args.timeout <= MAX_TIMEOUT:
        raise UserError(f"--timeout must be a positive, finite number of seconds, at most {MAX_TIMEOUT}")
    if args.memory > MAX_MEMORY_MB:
        raise UserError(f"--memory must be at most {MAX_MEMORY_MB} MB")
    source = read_program(args.file, "program")
    reporter = Reporter(args.json)
    choice = sandbox_for(args.sandbox, reporter, Limits(memory_mb=args.memory), memory_flag="--memory")
    result = run_file(choice.sandbox, source, name=args.file, timeout=args.timeout)
    data = {"file": args.file, **result.record(), "status": result.status, "ended": result.ending,
            "sandbox": sandbox_record(choice)}
    where = f"{result.duration:.2f}s in the {choice.sandbox.name} sandbox"
    output = result.output.rstrip()
    if result.output_cut:
        output = (f"[selftaught: the first {result.output_cut} bytes of the output were cut here; the last "
                  f"{choice.sandbox.limits.output_kb} KiB follow]\n{output}")
    human = f"{output}\n--- {args.file}: {result.ending} after {where}"
    if result.output_cut:
        human += f" (the first {result.output_cut} bytes of its output were cut)"
    if result.error:
        human += f"\n{result.error.rstrip()}"
    emit(args.json, data, human)
    return result.status


def handle_check(args: argparse.Namespace) -> int:
    reporter = Reporter(args.json)
    choice = sandbox_for(args.sandbox, reporter)
    layers = check_sandbox(choice)
    ok = all(layer.verified for layer in layers)
    data = {"sandbox": sandbox_record(choice), "ok": ok, "layers": [layer.record() for layer in layers]}
    lines = [f"sandbox: {choice.sandbox.name} ({'isolating' if choice.sandbox.isolated else 'REDUCED ISOLATION'})"]
    for layer in layers:
        lines.append(f"  {'held  ' if layer.verified else 'FAILED'}  {layer.layer:<22} {layer.detail}")
    lines.append("every layer held when tried" if ok else "some layers did not hold: see above")
    emit(args.json, data, "\n".join(lines))
    return 0 if ok else 1
