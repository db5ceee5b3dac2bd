"""`ast.parse`, one thread at a time: CPython 3.11 before 3.11.8 shares the state it builds ASTs with between
threads, so two parses at once can fail with "AST constructor recursion depth mismatch" (CPython gh-106905).
The orchestrator parses programs from many threads (downstream runs, speculation), so every parse goes here."""

from __future__ import annotations

import ast
import threading

_PARSING = threading.Lock()


def parse_python(source: str) -> ast.Module:
    """`ast.parse(source)`, serialized; raises what it raises (SyntaxError, ValueError, RecursionError...)."""
    with _PARSING:
        return ast.parse(source)
