"""The offline `mutate` backend: replies with AST mutations and crossovers of the programs it is shown."""

from __future__ import annotations

import ast
import copy
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from selftaught.lm._base import Backend, CompletionRequest
from selftaught.sandbox._guest.helpers import code_blocks

#: Functions that mark a code block as the scorer description (`utility.str`): never mutated.
SCORER_NAMES = frozenset({"utility", "meta_utility"})

_ATTEMPTS = 8  # proposals tried per sample before giving up on finding a distinct, parseable child
_CROSSOVER_RATE = 0.6  # chance of recombining when the message holds compatible parents
_MAX_NOTE = 48  # characters of code quoted in an idea note

# The fence syntax of `helpers.code_blocks`, used only by the fallback that skips fences in strings.
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)\s*$")
_BACKTICK_RUN = re.compile(r"^\s*(`{3,})", re.MULTILINE)

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEF_LIKE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FIXED_STMTS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
                ast.Global, ast.Nonlocal, ast.Pass)
_TERMINAL_STMTS = (ast.Return, ast.Raise, ast.Break, ast.Continue)
_SHARED = (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)
_ORDER_OPS: tuple[type[ast.cmpop], ...] = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ORDER_SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH_OPS: tuple[type[ast.operator], ...] = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv)
_ARITH_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//"}
_ARITH_PARTNER = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.Div: ast.FloorDiv,
                  ast.FloorDiv: ast.Div}
_EXTREMA = {"min": "max", "max": "min", "argmin": "argmax", "argmax": "argmin"}

_NO_PROGRAM = ("I found no Python program to improve in the message (no parseable code block other "
               "than the scorer), so I have no solution to propose.")
_NO_CHANGE = "I could not find a change to the program that parses and differs from it."


@dataclass(frozen=True)
class _Program:
    """A parseable code block of the message: a parent for mutation and recombination."""

    index: int  # 1-based position among the message's code blocks (for the idea notes)
    tree: ast.Module
    functions: tuple[str, ...]  # top-level function names, in order
    canonical: str  # ast.unparse(tree): what "identical to a parent" is compared against


class MutateBackend(Backend):
    """An offline proposer: each reply is a random AST mutation (or crossover) of the message's program.

    Sample i of a request depends only on `request.sample_seed(i)`; the temperature scales how
    many mutations are applied and how far constants move (0: a single light mutation).
    """

    name = "mutate"
    notice = ("mutate: no language model is used; replies are random mutations and recombinations "
              "of the programs in the prompt (an offline baseline)")

    def complete(self, request: CompletionRequest) -> list[str]:
        parents = _candidates(request.message)
        first = request.first_sample
        return [_reply(parents, request, i) for i in range(first, first + request.n)]


# ---- reading the message -------------------------------------------------------------------


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _message_blocks(text: str) -> list[str]:
    """The message's code blocks; when some do not parse, blocks are re-cut skipping fences in strings."""
    blocks = code_blocks(text)
    if all(_parse(block) is not None for block in blocks):
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
        parsing = (c for c in closes if _parse("\n".join(lines[i + 1 : c])) is not None)
        end = next(parsing, closes[0] if closes else len(lines))
        blocks.append("\n".join(lines[i + 1 : end]))
        i = end + 1
    return blocks


def _is_close(line: str, fence: str) -> bool:
    m = _FENCE.match(line)
    return m is not None and not m.group(2) and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)


def _candidates(message: str) -> list[_Program]:
    """The programs to improve: parseable blocks that are not the scorer, preferring ones with functions."""
    programs: list[_Program] = []
    seen: set[str] = set()
    for index, block in enumerate(_message_blocks(message), 1):
        tree = _parse(block)
        if tree is None or not tree.body:
            continue
        functions = tuple(node.name for node in tree.body if isinstance(node, _DEFS))
        if SCORER_NAMES.intersection(functions):
            continue
        try:
            canonical = ast.unparse(tree)
        except (ValueError, RecursionError):
            continue
        if canonical not in seen:
            seen.add(canonical)
            programs.append(_Program(index, tree, functions, canonical))
    with_functions = [p for p in programs if p.functions]
    return with_functions or programs


# ---- one reply -----------------------------------------------------------------------------


def _reply(parents: list[_Program], request: CompletionRequest, sample: int) -> str:
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
        if source not in known and _parse(source) is not None:
            return _format_reply(notes, source)
    return _NO_CHANGE


def _propose(parents: list[_Program], rng: random.Random, heat: float) -> tuple[ast.Module, list[str]]:
    """A child of a random parent: maybe a crossover with a compatible parent, then 0..k mutations."""
    primary = rng.choice(parents)
    tree = copy.deepcopy(primary.tree)
    notes: list[str] = []
    count = 1 if heat == 0 else rng.randint(1, 1 + round(2 * heat))
    partners = [p for p in parents if p is not primary and set(p.functions) & set(primary.functions)]
    if partners and rng.random() < _CROSSOVER_RATE:
        note = _crossover(tree, rng.choice(partners), rng)
        if note:
            notes.append(note)
            count = 0 if heat == 0 or rng.random() < 0.5 else 1
    mutator = _Mutator(rng, heat)
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


def _snippet(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= _MAX_NOTE else text[: _MAX_NOTE - 3] + "..."


# ---- recombination -------------------------------------------------------------------------


def _top_defs(tree: ast.Module) -> dict[str, int]:
    """Top-level function name -> index in tree.body (the last definition wins, as at run time)."""
    return {node.name: k for k, node in enumerate(tree.body) if isinstance(node, _DEFS)}


def _crossover(child: ast.Module, donor: _Program, rng: random.Random) -> str | None:
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
        assert isinstance(mine, _DEFS) and isinstance(other, _DEFS)
        cut = rng.randint(1, max(1, len(mine.body) - 1))
        start = min(max(cut + rng.randint(-1, 1), 0), len(other.body) - 1)
        mine.body = mine.body[:cut] + copy.deepcopy(other.body[start:])
        note = (f"recombine: keep the first {cut} statement(s) of {name} and continue with "
                f"candidate {donor.index}'s from statement {start + 1}")
    _bring_dependencies(child, donor.tree)
    return note


def _bring_dependencies(child: ast.Module, donor: ast.Module) -> None:
    """Adds the donor's imports and top-level definitions that the child lacks, after its imports."""
    imports = [s for s in child.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    have = {ast.unparse(s) for s in imports}
    defined = {s.name for s in child.body if isinstance(s, _DEF_LIKE)} | {
        t.id for s in child.body if isinstance(s, ast.Assign) for t in s.targets if isinstance(t, ast.Name)
    }
    added: list[ast.stmt] = []
    for s in donor.body:
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            future = isinstance(s, ast.ImportFrom) and s.module == "__future__"
            wanted = not future and ast.unparse(s) not in have
        elif isinstance(s, _DEF_LIKE):
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
    return 1 if body and _is_inert(body[0]) else 0


# ---- mutation ------------------------------------------------------------------------------


def _nodes(tree: ast.AST) -> list[ast.AST]:
    """All nodes in pre-order, not descending into f-strings (string literals are left alone)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if not isinstance(node, ast.JoinedStr):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return out


def _is_inert(stmt: ast.stmt) -> bool:
    """A bare string expression (a docstring or comment-like literal)."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(
        stmt.value.value, str)


def _movable(stmt: ast.stmt) -> bool:
    """Whether a statement may be deleted, duplicated or swapped without defeating the program's shape."""
    return not isinstance(stmt, _FIXED_STMTS + _TERMINAL_STMTS) and not _is_inert(stmt)


def _sequence_like(node: ast.expr) -> bool:
    """An operand that makes `+`/`*` mean concatenation or repetition: not arithmetic to swap."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    return isinstance(node, (ast.List, ast.Tuple, ast.ListComp, ast.JoinedStr, ast.Set, ast.Dict))


class _Mutator:
    """Applies one randomly chosen operator to a tree in place; each operator returns a note or None."""

    def __init__(self, rng: random.Random, heat: float) -> None:
        self.rng = rng
        self.heat = heat  # the clamped temperature, 0..2

    def mutate(self, tree: ast.Module) -> str | None:
        Op = Callable[[ast.Module], str | None]
        light: list[tuple[float, Op]] = [
            (4.0, self.constant), (2.0, self.compare), (2.0, self.arithmetic), (1.0, self.extremum),
        ]
        structural: list[tuple[float, Op]] = [
            (1.0, self.delete), (1.0, self.duplicate), (1.0, self.swap), (0.5, self.substitute),
            (0.5, self.reverse),
        ]
        # At temperature 0 structural changes are a last resort; otherwise all operators compete.
        groups = [light, structural] if self.heat == 0 else [light + structural]
        for ops in groups:
            # Weighted random order (Efraimidis-Spirakis keys); the first operator with a site applies.
            keyed = sorted(ops, key=lambda op: self.rng.random() ** (1.0 / op[0]), reverse=True)
            for _, op in keyed:
                note = op(tree)
                if note:
                    return note
        return None

    # -- expressions

    def constant(self, tree: ast.Module) -> str | None:
        sites = [n for n in _nodes(tree) if isinstance(n, ast.Constant) and self._numeric(n.value)]
        if not sites:
            return None
        node = self.rng.choices(sites, [self._weight(n.value) for n in sites])[0]
        old = node.value
        assert isinstance(old, (int, float))
        node.value = self._perturb(old)
        return f"change the constant {old!r} to {node.value!r}"

    @staticmethod
    def _numeric(value: object) -> bool:
        return isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value))

    @staticmethod
    def _weight(value: object) -> float:
        if isinstance(value, bool):
            return 0.05  # flip booleans rarely
        if value in (0, 1):
            return 0.15  # 0 and 1 are mostly structural (indices, identities)
        return 1.0

    def _perturb(self, value: float) -> float:
        rng = self.rng
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            if abs(value) <= 4:
                step = 2 if self.heat >= 1 and rng.random() < 0.3 else 1
            else:
                step = max(1, round(abs(value) * rng.uniform(0.05, 0.1 + 0.2 * self.heat)))
            new = value + rng.choice((-1, 1)) * step
            return value + step if value >= 0 > new else new
        assert isinstance(value, float)
        if value == 0.0:
            return rng.choice((0.01, 0.05, 0.1))
        sigma = 0.1 + 0.2 * self.heat
        new_float = float(f"{value * math.exp(rng.gauss(0.0, sigma)):.3g}")
        if new_float == value:
            new_float = float(f"{value * rng.choice((0.9, 1.1)):.4g}")
        return new_float if new_float != value else value * 2

    def compare(self, tree: ast.Module) -> str | None:
        sites = [(n, k) for n in _nodes(tree) if isinstance(n, ast.Compare)
                 for k, op in enumerate(n.ops) if isinstance(op, _ORDER_OPS)]
        if not sites:
            return None
        node, k = self.rng.choice(sites)
        old = type(node.ops[k])
        new = self.rng.choice([t for t in _ORDER_OPS if t is not old])
        node.ops[k] = new()
        return f"use `{_ORDER_SYMBOLS[new]}` instead of `{_ORDER_SYMBOLS[old]}` in `{_snippet(node)}`"

    def arithmetic(self, tree: ast.Module) -> str | None:
        sites: list[ast.BinOp | ast.AugAssign] = []
        for n in _nodes(tree):
            if isinstance(n, ast.BinOp) and isinstance(n.op, _ARITH_OPS):
                operands = [n.left, n.right]
            elif isinstance(n, ast.AugAssign) and isinstance(n.op, _ARITH_OPS):
                operands = [n.value]
            else:
                continue
            if not any(_sequence_like(x) for x in operands):
                sites.append(n)
        if not sites:
            return None
        node = self.rng.choice(sites)
        old = type(node.op)
        if self.rng.random() < 0.5:
            new = _ARITH_PARTNER[old]
        else:
            new = self.rng.choice([t for t in _ARITH_OPS if t is not old])
        node.op = new()
        return f"use `{_ARITH_SYMBOLS[new]}` instead of `{_ARITH_SYMBOLS[old]}` in `{_snippet(node)}`"

    def extremum(self, tree: ast.Module) -> str | None:
        sites: list[ast.Name | ast.Attribute] = [
            n for n in _nodes(tree)
            if (isinstance(n, ast.Name) and n.id in ("min", "max") and isinstance(n.ctx, ast.Load))
            or (isinstance(n, ast.Attribute) and n.attr in _EXTREMA and isinstance(n.ctx, ast.Load))
        ]
        if not sites:
            return None
        node = self.rng.choice(sites)
        if isinstance(node, ast.Name):
            old, node.id = node.id, _EXTREMA[node.id]
            return f"use `{node.id}` instead of `{old}`"
        old, node.attr = node.attr, _EXTREMA[node.attr]
        return f"use `.{node.attr}` instead of `.{old}`"

    def substitute(self, tree: ast.Module) -> str | None:
        """Reads another of the enclosing function's arguments or locals instead of one of them."""
        sites: list[tuple[ast.Name, list[str]]] = []
        for fn in ast.walk(tree):
            if not isinstance(fn, _DEFS):
                continue
            args = fn.args
            local = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
                     if a is not None]
            local += sorted(_stored(fn) - set(local))
            sites += [(n, [x for x in local if x != n.id]) for n in _nodes(fn)
                      if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in local]
        sites = [(n, others) for n, others in sites if others]
        if not sites:
            return None
        node, others = self.rng.choice(sites)
        old, node.id = node.id, self.rng.choice(others)
        return f"read `{node.id}` instead of `{old}` in one place"

    def reverse(self, tree: ast.Module) -> str | None:
        """Returns a returned sequence reversed."""
        sites = [n for n in _nodes(tree) if isinstance(n, ast.Return) and n.value is not None
                 and not isinstance(n.value, ast.Constant)]
        if not sites:
            return None
        node = self.rng.choice(sites)
        assert node.value is not None
        step = ast.Slice(lower=None, upper=None, step=ast.UnaryOp(op=ast.USub(), operand=ast.Constant(1)))
        node.value = ast.Subscript(value=node.value, slice=step, ctx=ast.Load())
        return f"return the result reversed: `{_snippet(node)}`"

    # -- statements

    def delete(self, tree: ast.Module) -> str | None:
        scope = _Bindings(tree)
        sites = [(body, k) for body in _bodies(tree) if len(body) > 1
                 for k, s in enumerate(body) if _movable(s) and not scope.sole_binder(s)]
        if not sites:
            return None
        body, k = self.rng.choice(sites)
        removed = body.pop(k)
        return f"drop `{_snippet(removed)}`"

    def duplicate(self, tree: ast.Module) -> str | None:
        sites = [(body, k) for body in _bodies(tree) for k, s in enumerate(body) if _movable(s)]
        if not sites:
            return None
        body, k = self.rng.choice(sites)
        body.insert(k + 1, copy.deepcopy(body[k]))
        return f"repeat `{_snippet(body[k])}`"

    def swap(self, tree: ast.Module) -> str | None:
        scope = _Bindings(tree)
        sites = [(body, k) for body in _bodies(tree) for k in range(len(body) - 1)
                 if _movable(body[k]) and _movable(body[k + 1]) and not scope.feeds(body[k], body[k + 1])]
        if not sites:
            return None
        body, k = self.rng.choice(sites)
        body[k], body[k + 1] = body[k + 1], body[k]
        return f"move `{_snippet(body[k])}` before `{_snippet(body[k + 1])}`"


class _Bindings:
    """Where names are bound and read, to avoid deleting or reordering the binding a later read needs.

    Approximate on purpose (one namespace for the whole tree, source order for control flow):
    it only has to keep most structural mutations runnable, not to be a scope analysis.
    """

    def __init__(self, tree: ast.AST) -> None:
        self.position: dict[int, int] = {}
        self.binds: dict[str, list[int]] = {}
        self.reads: dict[str, list[int]] = {}
        for pos, node in enumerate(_preorder(tree)):
            self.position[id(node)] = pos
            if isinstance(node, ast.Name):
                table = self.reads if isinstance(node.ctx, ast.Load) else self.binds
                table.setdefault(node.id, []).append(pos)
            elif isinstance(node, ast.arg):
                self.binds.setdefault(node.arg, []).append(pos)

    def _span(self, stmt: ast.stmt) -> tuple[int, int]:
        return self.position[id(stmt)], max(self.position[id(n)] for n in _preorder(stmt))

    def _bound_before(self, name: str, pos: int) -> bool:
        return any(p < pos for p in self.binds.get(name, ()))

    def sole_binder(self, stmt: ast.stmt) -> bool:
        """Whether a name `stmt` binds is read after it with no earlier binding to fall back on."""
        start, end = self._span(stmt)
        return any(
            any(p > end for p in self.reads.get(name, ())) and not self._bound_before(name, start)
            for name in _stored(stmt)
        )

    def feeds(self, first: ast.stmt, second: ast.stmt) -> bool:
        """Whether `second` reads a name that `first` binds with no earlier binding (a swap would unbind it)."""
        start, _ = self._span(first)
        read = {n.id for n in ast.walk(second) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        return any(name in read and not self._bound_before(name, start) for name in _stored(first))


def _preorder(tree: ast.AST) -> list[ast.AST]:
    """All nodes in source order, except the operator and context nodes (shared singletons)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(c for c in reversed(list(ast.iter_child_nodes(node))) if not isinstance(c, _SHARED))
    return out


def _stored(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}


def _bodies(tree: ast.Module) -> list[list[ast.stmt]]:
    """Every statement list of the tree (bodies, else branches, finally blocks)."""
    out: list[list[ast.stmt]] = []
    for node in _nodes(tree):
        for field in ("body", "orelse", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and all(isinstance(s, ast.stmt) for s in value):
                out.append(value)
    return out
