"""Cutting the mutate backend's message into code blocks, in time linear in the message's size."""

from __future__ import annotations

import ast
from itertools import accumulate

from selftaught.lm._mutate_ast import parse
from selftaught.lm._mutate_limits import FENCE_LENGTH_CAP, MAX_CLOSE_TRIES, PARSE_BUDGET
from selftaught.sandbox._guest.helpers import Fence, fence, nested_blocks

#: A message's code block: its text and its tree (None where it does not parse or was not parsed).
Block = tuple[str, ast.Module | None]


def message_blocks(text: str) -> list[Block]:
    """The code blocks of `text` as `helpers.code_blocks` cuts them, parsed; when some do not parse, re-cut
    so that fence lines inside string literals do not end a block (see `_parse_aware`)."""
    lines = text.splitlines()
    marks = [fence(line) for line in lines]
    blocks = [(body, parse(body)) for body in nested_blocks(lines, marks)]
    if all(tree is not None for _, tree in blocks):
        return blocks
    return _parse_aware(lines, marks, PARSE_BUDGET * len(text))


class _Closes:
    """The bare fence lines that can close an opening (same character, at least as long), found in amortized
    constant time: one sorted list per (character, capped length), walked by a pointer that only moves on."""

    def __init__(self, marks: list[Fence | None]) -> None:
        self.bare = [(j, mark[0][0], min(len(mark[0]), FENCE_LENGTH_CAP))
                     for j, mark in enumerate(marks) if mark and not mark[1]]
        self.lists: dict[tuple[str, int], list[int]] = {}
        self.pointers: dict[tuple[str, int], int] = {}

    def after(self, line: int, run: str, count: int) -> list[int]:
        """The first `count` closes after `line` of an opening `run` (calls must come with growing `line`)."""
        key = (run[0], min(len(run), FENCE_LENGTH_CAP))
        found = self.lists.get(key)
        if found is None:
            found = self.lists[key] = [j for j, char, length in self.bare if char == key[0] and length >= key[1]]
        at = self.pointers.get(key, 0)
        while at < len(found) and found[at] <= line:
            at += 1
        self.pointers[key] = at
        return found[at : at + count]


def _parse_aware(lines: list[str], marks: list[Fence | None], budget: int) -> list[Block]:
    """Like `helpers.code_blocks`, but a block ends at the first closing fence after which its body parses.

    A program whose string literals hold unbalanced fence lines (say a bare ``` line) is cut short by
    `code_blocks`; a fence inside a string never yields a parseable prefix, so the first closing fence that
    does is the real one. Bounded: at most MAX_CLOSE_TRIES closes are tried per opening, and `budget`
    characters parsed in all; past that, a block ends at its first close, unparsed.
    """
    starts = [0, *accumulate(len(line) + 1 for line in lines)]  # starts[k]: offset of line k in "\n".join
    closes = _Closes(marks)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        mark = marks[i]
        if mark is None:
            i += 1
            continue
        tries = closes.after(i, mark[0], MAX_CLOSE_TRIES)
        end, tree = (tries[0] if tries else len(lines)), None
        for close in tries or [len(lines)]:
            size = max(0, starts[close] - starts[i + 1] - 1)
            if size > budget:
                break
            budget -= size
            tree = parse("\n".join(lines[i + 1 : close]))
            if tree is not None:
                end = close
                break
        blocks.append(("\n".join(lines[i + 1 : end]), tree))
        i = end + 1
    return blocks
