"""The offline `mutate` backend: replies with AST mutations and crossovers of the programs it is shown."""

from __future__ import annotations

import ast
import copy
import random

from selftaught.lm._base import CompletionRequest, OfflineBackend
from selftaught.lm._mutate_ast import parse
from selftaught.lm._mutate_blocks import SCORER_NAMES, Program, candidates
from selftaught.lm._mutate_crossover import crossover
from selftaught.lm._mutate_ops import Mutator
from selftaught.lm._mutate_text import Literal, literals, mutate_text

__all__ = ["SCORER_NAMES", "MutateBackend"]

_ATTEMPTS = 8  # proposals tried per sample before giving up on finding a distinct, parseable child
_CROSSOVER_RATE = 0.6  # chance of recombining when the message holds compatible parents

_NO_PROGRAM = ("I found no Python program to improve in the message (no parseable code block other "
               "than the scorer), so I have no solution to propose.")
_NO_CHANGE = "I could not find a change to the program that parses and differs from it."


class MutateBackend(OfflineBackend):
    """An offline proposer: each reply is a random AST mutation (or crossover) of the message's program.

    Sample i of a request depends only on `request.sample_seed(i)`; the temperature scales how
    many mutations are applied and how far constants move (0: a single light mutation).

    It answers any message, and its work per request is linear in the message's size (times the
    samples asked for) and bounded (see `_mutate_limits`): it reads the first MAX_MESSAGE_CHARS
    characters; a program with more than MAX_TREE_NODES AST nodes, or deeper than MAX_TREE_DEPTH
    levels, gets one numeric literal changed in its text instead of tree edits (or, with no literal
    to change, a reply without code).
    """

    name = "mutate"
    notice = ("mutate: no language model is used; replies are random mutations and recombinations "
              "of the programs in the prompt (an offline baseline)")

    def complete(self, request: CompletionRequest) -> list[str]:
        parents = candidates(request.message)
        first = request.first_sample
        context = _Context(parents)
        return [_reply(context, request, i) for i in range(first, first + request.n)]


class _Context:
    """What every sample of one request shares: the parents, and their literals (tokenized once, if needed)."""

    def __init__(self, parents: list[Program]) -> None:
        self.parents = parents
        self.known = {p.canonical for p in parents}
        self._literals: dict[int, list[Literal]] = {}

    def literals(self, program: Program) -> list[Literal]:
        if program.index not in self._literals:
            self._literals[program.index] = literals(program.source)
        return self._literals[program.index]


def _reply(context: _Context, request: CompletionRequest, sample: int) -> str:
    parents = context.parents
    if not parents:
        return _NO_PROGRAM
    rng = random.Random(request.sample_seed(sample))
    heat = min(max(request.temperature, 0.0), 2.0)
    for _ in range(_ATTEMPTS):
        primary = rng.choice(parents)
        if primary.editable:
            try:
                child = _tree_child(primary, parents, rng, heat, context.known)
            except Exception:  # an edit the tree code cannot handle: fall back on the text
                child = _text_child(primary, context, rng, heat)
        else:
            child = _text_child(primary, context, rng, heat)
        if child is not None:
            return _format_reply(*child)
    return _NO_CHANGE


def _text_child(primary: Program, context: _Context, rng: random.Random,
                heat: float) -> tuple[list[str], str] | None:
    """(the note, the source) of `primary` with one numeric literal changed in its text, or None."""
    changed = mutate_text(primary.source, context.literals(primary), Mutator(rng, heat))
    if changed is None or changed[0] in context.known:
        return None
    return [changed[1]], changed[0]


def _tree_child(primary: Program, parents: list[Program], rng: random.Random, heat: float,
                known: set[str]) -> tuple[list[str], str] | None:
    """(the notes, the source) of a parseable child of `primary` that differs from every parent, or None."""
    tree, notes = _propose(primary, parents, rng, heat)
    if not notes:
        return None
    source = ast.unparse(ast.fix_missing_locations(tree))
    if source in known or parse(source) is None:
        return None
    return notes, source


def _propose(primary: Program, parents: list[Program], rng: random.Random,
             heat: float) -> tuple[ast.Module, list[str]]:
    """A child of `primary`: maybe a crossover with a compatible parent, then 0..k mutations."""
    tree = copy.deepcopy(primary.tree)
    notes: list[str] = []
    count = 1 if heat == 0 else rng.randint(1, 1 + round(2 * heat))
    partners = [p for p in parents if p is not primary and p.editable and set(p.functions) & set(primary.functions)]
    if partners and rng.random() < _CROSSOVER_RATE:
        note = crossover(tree, rng.choice(partners), rng)
        if note:
            notes.append(note)
            count = 0 if heat == 0 or rng.random() < 0.5 else 1
    mutator = Mutator(rng, heat)
    for _ in range(count):
        note = mutator.mutate(tree)
        if note:
            notes.append(note)
    return tree, notes


def _format_reply(notes: list[str], source: str) -> str:
    # A fence longer than any fence line inside the program: a CommonMark reader gets it whole
    # (`helpers.code_blocks` nests by language tag instead, and is indifferent to the length).
    longest = max((_backtick_run(line) for line in source.splitlines()), default=0)
    fence = "`" * max(3, longest + 1)
    idea = "; ".join(note.replace("\n", " ") for note in notes)
    return f"Idea: {idea}.\n\n{fence}python\n{source}\n{fence}\n"


def _backtick_run(line: str) -> int:
    """The backticks a line starts with, after its indentation (no regular expression: linear on any line)."""
    text = line.lstrip()
    return len(text) - len(text.lstrip("`"))
