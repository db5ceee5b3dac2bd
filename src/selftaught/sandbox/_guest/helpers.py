"""Helpers importable by generated improvers: `extract_code` (paper-compatible) and `LanguageModelError`."""

from __future__ import annotations


class LanguageModelError(Exception):
    """A language-model call failed and was counted: the provider refused the request (its message
    says why: context length, content policy, invalid parameters), or the call budget is spent.

    An improver may catch it (`from helpers import LanguageModelError`) and go on without that call.
    """

_TAG_PUNCTUATION = frozenset("_+.-")

Fence = tuple[str, str]  # a fence line's run of backticks or tildes, and its language tag ("" for a bare fence)


def fence(line: str) -> Fence | None:
    """(run, tag) if `line` is a fence line, else None: optional space, three or more backticks or tildes,
    optional space, a language tag of word characters and `+.-`, optional space (the regular expression
    `^\\s*(`{3,}|~{3,})\\s*([\\w+.-]*)\\s*$`, read without one: that pattern backtracks quadratically
    on a long line of spaces, and the orchestrator reads LM replies with this too)."""
    text = line.strip()
    if len(text) < 3 or text[0] not in "`~":
        return None
    run = len(text) - len(text.lstrip(text[0]))
    if run < 3:
        return None
    tag = text[run:].lstrip()
    if not all(ch.isalnum() or ch in _TAG_PUNCTUATION for ch in tag):
        return None
    return text[:run], tag


def nested_blocks(lines: list[str], marks: list[Fence | None]) -> list[str]:
    """The outermost blocks of `lines`, whose fence lines are `marks` (see `code_blocks`)."""
    blocks: list[str] = []
    body: list[str] = []
    depth = 0
    for line, mark in zip(lines, marks, strict=True):
        if depth == 0:
            if mark:
                depth, body = 1, []
            continue
        if mark and mark[1]:
            depth += 1
        elif mark:
            depth -= 1
            if depth == 0:
                blocks.append("\n".join(body))
                continue
        body.append(line)
    if depth > 0 and body:
        blocks.append("\n".join(body))
    return blocks


def code_blocks(text: str) -> list[str]:
    """All outermost fenced code blocks of `text`, in order, without their fences.

    A block opens with a line of three or more backticks (optionally followed by a language
    name). Inside a block, a fence with a language name opens a nested block and a bare fence
    closes the innermost one, so a program whose prompt strings contain fenced blocks (an
    improver) is extracted whole, as the paper's helper does. An unclosed final block (a reply
    cut off by the token limit) counts up to the end of the text. Linear in the text's length.
    """
    lines = text.splitlines()
    return nested_blocks(lines, [fence(line) for line in lines])


def extract_code(text_or_list: object) -> object:
    """The largest fenced code block of an LM reply, or of each reply of a list.

    Returns None for a reply without a code block (as the paper's helper does), so that
    `max(extract_code(replies), key=utility)` scores such a reply as a failure.
    """
    if isinstance(text_or_list, (list, tuple)):
        return [extract_code(item) for item in text_or_list]
    if not isinstance(text_or_list, str):
        return None
    blocks = code_blocks(text_or_list)
    if not blocks:
        return None
    return max(blocks, key=len)
