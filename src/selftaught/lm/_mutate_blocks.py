"""Reading the mutate backend's message: its code blocks and the parseable programs among them."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from selftaught.lm._mutate_ast import DEFS, parse
from selftaught.sandbox._guest.helpers import code_blocks

#: Functions that mark a code block as the scorer description (`utility.str`): never mutated.
SCORER_NAMES = frozenset({"utility", "meta_utility"})

# The fence syntax of `helpers.code_blocks`, used only by the fallback that skips fences in strings.
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)\s*$")


@dataclass(frozen=True)
class Program:
    """A parseable code block of the message: a parent for mutation and recombination."""

    index: int  # 1-based position among the message's code blocks (for the idea notes)
    tree: ast.Module
    functions: tuple[str, ...]  # top-level function names, in order
    canonical: str  # ast.unparse(tree): what "identical to a parent" is compared against


def candidates(message: str) -> list[Program]:
    """The programs to improve: parseable blocks that are not the scorer, preferring ones with functions."""
    programs: list[Program] = []
    seen: set[str] = set()
    for index, block in enumerate(_message_blocks(message), 1):
        tree = parse(block)
        if tree is None or not tree.body:
            continue
        functions = tuple(node.name for node in tree.body if isinstance(node, DEFS))
        if SCORER_NAMES.intersection(functions):
            continue
        try:
            canonical = ast.unparse(tree)
        except (ValueError, RecursionError):
            continue
        if canonical not in seen:
            seen.add(canonical)
            programs.append(Program(index, tree, functions, canonical))
    with_functions = [p for p in programs if p.functions]
    return with_functions or programs


def _message_blocks(text: str) -> list[str]:
    """The message's code blocks; when some do not parse, blocks are re-cut skipping fences in strings."""
    blocks = code_blocks(text)
    if all(parse(block) is not None for block in blocks):
        return blocks
    return _parse_aware_blocks(text)


def _parse_aware_blocks(text: str) -> list[str]:
    """Like `code_blocks`, but a block ends at the first closing fence after which its body parses.

    A program whose string literals hold unbalanced fence lines (say a bare ``` line) is cut
    short by `code_blocks`; a fence inside a string never yields a parseable prefix, so the
    first closing fence that does is the real one.
    """
    lines = text.splitlines()
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening.group(1)
        closes = [c for c in range(i + 1, len(lines)) if _is_close(lines[c], fence)]
        parsing = (c for c in closes if parse("\n".join(lines[i + 1 : c])) is not None)
        end = next(parsing, closes[0] if closes else len(lines))
        blocks.append("\n".join(lines[i + 1 : end]))
        i = end + 1
    return blocks


def _is_close(line: str, fence: str) -> bool:
    m = _FENCE.match(line)
    return m is not None and not m.group(2) and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)
