"""`selftaught improvers`: the library of improvers, each name with one line on what it does."""

from __future__ import annotations

import argparse
from typing import Any

from selftaught.api import improvers
from selftaught.cli._common import add_output_flags, emit


def register(sub: Any) -> None:
    p = sub.add_parser("improvers", help="list the library of improvers (names --improver accepts in place of a file)")
    add_output_flags(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    library = improvers()
    lines = [f"{'improver':<18} description", *(f"{i.name:<18} {i.summary}" for i in library),
             "Give a name where an improver file is accepted (improve --improver, transfer, compare, arena); a file "
             "of the same name wins. The strategies: docs/improvers.md."]
    emit(args.json, {"improvers": [i.to_dict() for i in library]}, "\n".join(lines))
    return 0
