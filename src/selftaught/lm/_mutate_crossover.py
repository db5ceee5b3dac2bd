"""Recombination for the mutate backend: a child takes functions or statements from a second parent."""

from __future__ import annotations

import ast
import copy
import random

from selftaught.lm._mutate_ast import DEF_LIKE, DEFS, is_inert
from selftaught.lm._mutate_blocks import Program


def crossover(child: ast.Module, donor: Program, rng: random.Random) -> str | None:
    """Replaces part of `child` (a copy of one parent) with material from `donor`, in place."""
    own = _top_defs(child)
    theirs = _top_defs(donor.tree)
    shared = [name for name in own if name in theirs]
    if not shared:
        return None
    if len(shared) >= 2:
        # Uniform crossover over whole functions, with at least one from each parent.
        take = [rng.random() < 0.5 for _ in shared]
        if all(take) or not any(take):
            flip = rng.randrange(len(shared))
            take[flip] = not take[flip]
        taken = [name for name, t in zip(shared, take, strict=True) if t]
        for name in taken:
            child.body[own[name]] = copy.deepcopy(donor.tree.body[theirs[name]])
        note = f"recombine: take {', '.join(taken)} from candidate {donor.index}"
    else:
        # One-point crossover inside the single shared function's body.
        name = shared[0]
        mine, other = child.body[own[name]], donor.tree.body[theirs[name]]
        assert isinstance(mine, DEFS) and isinstance(other, DEFS)
        cut = rng.randint(1, max(1, len(mine.body) - 1))
        start = min(max(cut + rng.randint(-1, 1), 0), len(other.body) - 1)
        mine.body = mine.body[:cut] + copy.deepcopy(other.body[start:])
        note = (f"recombine: keep the first {cut} statement(s) of {name} and continue with "
                f"candidate {donor.index}'s from statement {start + 1}")
    _bring_dependencies(child, donor.tree)
    return note


def _top_defs(tree: ast.Module) -> dict[str, int]:
    """Top-level function name -> index in tree.body (the last definition wins, as at run time)."""
    return {node.name: k for k, node in enumerate(tree.body) if isinstance(node, DEFS)}


def _bring_dependencies(child: ast.Module, donor: ast.Module) -> None:
    """Adds the donor's imports and top-level definitions that the child lacks, after its imports."""
    imports = [s for s in child.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    have = {ast.unparse(s) for s in imports}
    defined = {s.name for s in child.body if isinstance(s, DEF_LIKE)} | {
        t.id for s in child.body if isinstance(s, ast.Assign) for t in s.targets if isinstance(t, ast.Name)
    }
    added: list[ast.stmt] = []
    for s in donor.body:
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            future = isinstance(s, ast.ImportFrom) and s.module == "__future__"
            wanted = not future and ast.unparse(s) not in have
        elif isinstance(s, DEF_LIKE):
            wanted = s.name not in defined
        elif isinstance(s, ast.Assign):
            wanted = all(isinstance(t, ast.Name) and t.id not in defined for t in s.targets)
        else:
            wanted = False
        if wanted:
            added.append(copy.deepcopy(s))
    at = max((child.body.index(s) + 1 for s in imports), default=_docstring_len(child.body))
    child.body[at:at] = added


def _docstring_len(body: list[ast.stmt]) -> int:
    return 1 if body and is_inert(body[0]) else 0
