"""`selftaught report`: one self-contained HTML (or Markdown) file describing a run directory."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from selftaught._text import json_safe, visible
from selftaught.errors import UserError
from selftaught.report import build_report, render_html, render_md, report_json


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML or Markdown report of a run directory")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (runs/<run>)")
    p.add_argument("--out", metavar="FILE", help="where to write it (default RUN_DIR/report.html or .md)")
    p.add_argument("--format", choices=("html", "md"), default=None,
                   help="html (default; or from --out's suffix) or md")
    p.add_argument("--transfer", metavar="FILE",
                   help="`selftaught transfer --json` output to include (default: RUN_DIR/transfer.json if present)")
    p.add_argument("--json", action="store_true", help="print the report's data (figures, intervals) as one JSON "
                   "object instead of writing a file")
    p.set_defaults(handler=handle)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "md" if args.out and Path(args.out).suffix.lower() in (".md", ".markdown") else "html"


def handle(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    kind = _format(args)
    transfer = Path(args.transfer) if args.transfer else None
    if transfer is not None and not transfer.is_file():  # a file named on the command line must be there
        raise UserError(f"transfer results file {'is a directory' if transfer.is_dir() else 'not found'}: "
                        f"{transfer} (make it with `selftaught transfer IMPROVER.py --json > FILE`)")
    try:
        report = build_report(run_dir, transfer)
        if args.json:
            text = json.dumps(report_json(report), ensure_ascii=False, default=str)
            sys.stdout.write(json_safe(text) + "\n")
            return 0
        text = render_md(report) if kind == "md" else render_html(report)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:  # a record of an unexpected shape
        raise UserError(f"cannot report on {run_dir}: malformed run data ({type(exc).__name__}: {exc})") from None
    out = Path(args.out) if args.out else run_dir / f"report.{kind}"
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}") from None
    for warning in report["warnings"]:
        sys.stderr.write(f"note: {visible(warning, keep='')}\n")
    sys.stdout.write(f"{visible(str(out), keep='')}\n")
    return 0
