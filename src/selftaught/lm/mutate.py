"""The offline `mutate` backend: replies with AST mutations and crossovers of the programs it is shown."""

from __future__ import annotations

import ast
import copy
import random
import re

from selftaught.lm._base import CompletionRequest, OfflineBackend
from selftaught.lm._mutate_ast import parse
from selftaught.lm._mutate_blocks import SCORER_NAMES, Program, candidates
from selftaught.lm._mutate_crossover import crossover
from selftaught.lm._mutate_ops import Mutator

__all__ = ["SCORER_NAMES", "MutateBackend"]

_ATTEMPTS = 8  # proposals tried per sample before giving up on finding a distinct, parseable child
_CROSSOVER_RATE = 0.6  # chance of recombining when the message holds compatible parents

_BACKTICK_RUN = re.compile(r"^\s*(`{3,})", re.MULTILINE)

_NO_PROGRAM = ("I found no Python program to improve in the message (no parseable code block other "
               "than the scorer), so I have no solution to propose.")
_NO_CHANGE = "I could not find a change to the program that parses and differs from it."


class MutateBackend(OfflineBackend):
    """An offline proposer: each reply is a random AST mutation (or crossover) of the message's program.

    Sample i of a request depends only on `request.sample_seed(i)`; the temperature scales how
    many mutations are applied and how far constants move (0: a single light mutation).
    """

    name = "mutate"
    notice = ("mutate: no language model is used; replies are random mutations and recombinations "
              "of the programs in the prompt (an offline baseline)")

    def complete(self, request: CompletionRequest) -> list[str]:
        parents = candidates(request.message)
        first = request.first_sample
        return [_reply(parents, request, i) for i in range(first, first + request.n)]


def _reply(parents: list[Program], request: CompletionRequest, sample: int) -> str:
    if not parents:
        return _NO_PROGRAM
    rng = random.Random(request.sample_seed(sample))
    heat = min(max(request.temperature, 0.0), 2.0)
    known = {p.canonical for p in parents}
    for _ in range(_ATTEMPTS):
        tree, notes = _propose(parents, rng, heat)
        if not notes:
            continue
        try:
            source = ast.unparse(ast.fix_missing_locations(tree))
        except (ValueError, RecursionError):
            continue
        if source not in known and parse(source) is not None:
            return _format_reply(notes, source)
    return _NO_CHANGE


def _propose(parents: list[Program], rng: random.Random, heat: float) -> tuple[ast.Module, list[str]]:
    """A child of a random parent: maybe a crossover with a compatible parent, then 0..k mutations."""
    primary = rng.choice(parents)
    tree = copy.deepcopy(primary.tree)
    notes: list[str] = []
    count = 1 if heat == 0 else rng.randint(1, 1 + round(2 * heat))
    partners = [p for p in parents if p is not primary and set(p.functions) & set(primary.functions)]
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
    longest = max((len(m.group(1)) for m in _BACKTICK_RUN.finditer(source)), default=2)
    fence = "`" * max(3, longest + 1)
    idea = "; ".join(note.replace("\n", " ") for note in notes)
    return f"Idea: {idea}.\n\n{fence}python\n{source}\n{fence}\n"
