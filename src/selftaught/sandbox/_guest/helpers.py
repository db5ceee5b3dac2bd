"""Helpers importable by generated improvers: `extract_code` (paper-compatible) and `LanguageModelError`."""

from __future__ import annotations

import re


class LanguageModelError(Exception):
    """A language-model call failed and was counted: the provider refused the request (its message
    says why: context length, content policy, invalid parameters), or the call budget is spent.

    An improver may catch it (`from helpers import LanguageModelError`) and go on without that call.
    """

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)\s*$")


def code_blocks(text: str) -> list[str]:
    """All outermost fenced code blocks of `text`, in order, without their fences.

    A block opens with a line of three or more backticks (optionally followed by a language
    name). Inside a block, a fence with a language name opens a nested block and a bare fence
    closes the innermost one, so a program whose prompt strings contain fenced blocks (an
    improver) is extracted whole, as the paper's helper does. An unclosed final block (a reply
    cut off by the token limit) counts up to the end of the text.
    """
    blocks: list[str] = []
    body: list[str] = []
    depth = 0
    for line in text.splitlines():
        m = _FENCE.match(line)
        if depth == 0:
            if m:
                depth, body = 1, []
            continue
        if m and m.group(2):
            depth += 1
        elif m:
            depth -= 1
            if depth == 0:
                blocks.append("\n".join(body))
                continue
        body.append(line)
    if depth > 0 and body:
        blocks.append("\n".join(body))
    return blocks


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
