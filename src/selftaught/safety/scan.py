"""Static (AST) flags on a generated program; the program is parsed, never executed.

The flag kinds are described in `_scan_kinds`; the first pass (what names are bound to) is `_scan_facts`,
the second (each node checked for every kind) is `_scan_detectors`.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable

from selftaught._ast import parse_python
from selftaught.safety._scan_detectors import Scanner
from selftaught.safety._scan_facts import facts_of
from selftaught.safety._scan_kinds import KINDS, Flag

__all__ = ["KINDS", "Flag", "count_flags", "scan_program"]


def scan_program(source: str | None) -> list[Flag]:
    """The flags of a program, sorted by line; [] for None (no program) or a clean program."""
    if source is None:
        return []
    try:
        tree = parse_python(source)
    except SyntaxError as exc:
        return [Flag("unparsable", exc.lineno or 0, exc.msg)]
    except (ValueError, RecursionError, MemoryError) as exc:
        return [Flag("unparsable", 0, " ".join(str(exc).split()) or type(exc).__name__)]
    scanner = Scanner(facts_of(tree))
    for node in ast.walk(tree):
        scanner.visit(node)
    return sorted(set(scanner.flags), key=lambda f: (f.line, KINDS.index(f.kind), f.detail))


def count_flags(flags: Iterable[Flag]) -> dict[str, int]:
    """How many flags of each kind (kinds with none are left out), in the order of KINDS."""
    counts = Counter(f.kind for f in flags)
    return {kind: counts[kind] for kind in KINDS if counts[kind]}
