"""Reading the mutate backend's message: the parseable programs among its code blocks, the scorer excluded."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from selftaught.lm._mutate_ast import DEFS, fits
from selftaught.lm._mutate_fences import message_blocks
from selftaught.lm._mutate_limits import MAX_MESSAGE_CHARS, MAX_PROGRAMS, MAX_TREE_DEPTH, MAX_TREE_NODES

#: Functions that mark a code block as the scorer description (`utility.str`): never mutated.
SCORER_NAMES = frozenset({"utility", "meta_utility"})


@dataclass(frozen=True)
class Program:
    """A parseable code block of the message: a parent for mutation and recombination.

    Attributes:
      index: 1-based position among the message's code blocks (for the idea notes).
      tree: its AST.
      functions: top-level function names, in order.
      source: the block's text.
      editable: whether it is small and shallow enough to edit as a tree (see `_mutate_limits`); if
        not, it only gets the textual fallback and is never recombined.
      canonical: what "identical to this parent" is compared against: `ast.unparse(tree)` if editable,
        else `source`.
    """

    index: int
    tree: ast.Module
    functions: tuple[str, ...]
    source: str
    editable: bool
    canonical: str


def candidates(message: str) -> list[Program]:
    """The programs to improve: parseable blocks that are not the scorer, preferring ones with functions.

    Reads at most MAX_MESSAGE_CHARS of the message and keeps at most MAX_PROGRAMS programs.
    """
    programs: list[Program] = []
    seen: set[str] = set()
    for index, (block, tree) in enumerate(message_blocks(message[:MAX_MESSAGE_CHARS]), 1):
        if tree is None or not tree.body:
            continue
        functions = tuple(node.name for node in tree.body if isinstance(node, DEFS))
        if SCORER_NAMES.intersection(functions):
            continue
        program = _program(index, tree, functions, block)
        if program.canonical not in seen:
            seen.add(program.canonical)
            programs.append(program)
            if len(programs) >= MAX_PROGRAMS:
                break
    with_functions = [p for p in programs if p.functions]
    return with_functions or programs


def _program(index: int, tree: ast.Module, functions: tuple[str, ...], source: str) -> Program:
    if fits(tree, MAX_TREE_NODES, MAX_TREE_DEPTH):
        try:
            return Program(index, tree, functions, source, True, ast.unparse(tree))
        except (ValueError, RecursionError):
            pass
    return Program(index, tree, functions, source, False, source)
