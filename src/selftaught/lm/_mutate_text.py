"""The mutate backend's fallback for a program too big or too deep to edit as a tree: a constant changed in its text.

Tokenizing and splicing are linear in the program's size and recurse nowhere, so a program nested a thousand
levels deep (which `copy.deepcopy` and `ast.unparse` cannot handle) still gets a proposal.
"""

from __future__ import annotations

import io
import math
import tokenize
from dataclasses import dataclass

from selftaught.lm._mutate_ast import parse
from selftaught.lm._mutate_ops import Mutator

_FLOAT_CHARS = frozenset("0123456789.eE+-")
#: A child at most this long is parsed to check it; a longer one is not (a parse of 1 MiB takes seconds): one
#: decimal literal replaced by another of the same kind is valid wherever the tokenizer found the first.
VERIFY_CHARS = 1 << 14


@dataclass(frozen=True)
class Literal:
    """A decimal numeric literal of a program's text: where it is and its value."""

    start: int
    end: int
    value: int | float


def literals(source: str) -> list[Literal]:
    """The program's decimal int and float literals (not hex, octal, binary, imaginary or with underscores)."""
    offsets = [0]
    for line in source.split("\n"):  # the lines io.StringIO.readline yields, so that columns map to offsets
        offsets.append(offsets[-1] + len(line) + 1)
    found: list[Literal] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.NUMBER or token.start[0] != token.end[0]:
                continue
            value = _value(token.string)
            if value is not None:
                row, col = token.start
                start = offsets[row - 1] + col
                found.append(Literal(start, start + len(token.string), value))
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass  # the literals read so far are still literals
    return found


def _value(text: str) -> int | float | None:
    if text.isdigit() and text.isascii():
        return int(text) if text == "0" or not text.startswith("0") else None
    if set(text) <= _FLOAT_CHARS and any(ch.isdigit() for ch in text):
        try:
            return float(text)
        except ValueError:
            return None
    return None


def mutate_text(source: str, found: list[Literal], mutator: Mutator) -> tuple[str, str] | None:
    """(the program with one literal changed, a note), or None (no literal, or the child does not parse)."""
    sites = [lit for lit in found if Mutator.numeric(lit.value)]
    if not sites:
        return None
    lit = mutator.rng.choices(sites, [Mutator.weight(lit.value) for lit in sites])[0]
    new = mutator.perturb(lit.value)
    if not math.isfinite(new):
        return None
    text = repr(float(new)) if isinstance(lit.value, float) else str(int(new))
    child = source[: lit.start] + text + source[lit.end :]
    if child == source or (len(child) <= VERIFY_CHARS and parse(child) is None):
        return None
    return child, f"change the constant {lit.value!r} to {text}"
