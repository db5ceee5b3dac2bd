"""The mutate backend's mutation operators: small random edits of a program's AST, in place."""

from __future__ import annotations

import ast
import copy
import math
import random
from collections.abc import Callable

from selftaught.lm._mutate_ast import DEFS, Bindings, bodies, is_inert, preorder, stored

_MAX_NOTE = 48  # characters of code quoted in an idea note

_FIXED_STMTS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
                ast.Global, ast.Nonlocal, ast.Pass)
_TERMINAL_STMTS = (ast.Return, ast.Raise, ast.Break, ast.Continue)
_ORDER_OPS: tuple[type[ast.cmpop], ...] = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ORDER_SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH_OPS: tuple[type[ast.operator], ...] = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv)
_ARITH_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//"}
_ARITH_PARTNER = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.Div: ast.FloorDiv,
                  ast.FloorDiv: ast.Div}
_EXTREMA = {"min": "max", "max": "min", "argmin": "argmax", "argmax": "argmin"}


class Mutator:
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
        sites = [n for n in preorder(tree, fstrings=False) if isinstance(n, ast.Constant) and self.numeric(n.value)]
        if not sites:
            return None
        node = self.rng.choices(sites, [self.weight(n.value) for n in sites])[0]
        old = node.value
        assert isinstance(old, (int, float))
        node.value = self.perturb(old)
        return f"change the constant {old!r} to {node.value!r}"

    @staticmethod
    def numeric(value: object) -> bool:
        """Whether a constant is a number worth perturbing (a bool, an int or a finite float)."""
        return isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value))

    @staticmethod
    def weight(value: object) -> float:
        """How likely a constant is to be chosen, relative to others."""
        if isinstance(value, bool):
            return 0.05  # flip booleans rarely
        if value in (0, 1):
            return 0.15  # 0 and 1 are mostly structural (indices, identities)
        return 1.0

    def perturb(self, value: float) -> float:
        """A nearby value of the same type (further with more heat; never of the other sign for an int)."""
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
        sites = [(n, k) for n in preorder(tree, fstrings=False) if isinstance(n, ast.Compare)
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
        for n in preorder(tree, fstrings=False):
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
            n for n in preorder(tree, fstrings=False)
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
            if not isinstance(fn, DEFS):
                continue
            args = fn.args
            local = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
                     if a is not None]
            local += sorted(stored(fn) - set(local))
            sites += [(n, [x for x in local if x != n.id]) for n in preorder(fn, fstrings=False)
                      if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in local]
        sites = [(n, others) for n, others in sites if others]
        if not sites:
            return None
        node, others = self.rng.choice(sites)
        old, node.id = node.id, self.rng.choice(others)
        return f"read `{node.id}` instead of `{old}` in one place"

    def reverse(self, tree: ast.Module) -> str | None:
        """Returns a returned sequence reversed."""
        sites = [n for n in preorder(tree, fstrings=False) if isinstance(n, ast.Return) and n.value is not None
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
        scope = Bindings(tree)
        sites = [(body, k) for body in bodies(tree) if len(body) > 1
                 for k, s in enumerate(body) if _movable(s) and not scope.sole_binder(s)]
        if not sites:
            return None
        body, k = self.rng.choice(sites)
        removed = body.pop(k)
        return f"drop `{_snippet(removed)}`"

    def duplicate(self, tree: ast.Module) -> str | None:
        sites = [(body, k) for body in bodies(tree) for k, s in enumerate(body) if _movable(s)]
        if not sites:
            return None
        body, k = self.rng.choice(sites)
        body.insert(k + 1, copy.deepcopy(body[k]))
        return f"repeat `{_snippet(body[k])}`"

    def swap(self, tree: ast.Module) -> str | None:
        scope = Bindings(tree)
        sites = [(body, k) for body in bodies(tree) for k in range(len(body) - 1)
                 if _movable(body[k]) and _movable(body[k + 1]) and not scope.feeds(body[k], body[k + 1])]
        if not sites:
            return None
        body, k = self.rng.choice(sites)
        body[k], body[k + 1] = body[k + 1], body[k]
        return f"move `{_snippet(body[k])}` before `{_snippet(body[k + 1])}`"


def _snippet(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= _MAX_NOTE else text[: _MAX_NOTE - 3] + "..."


def _movable(stmt: ast.stmt) -> bool:
    """Whether a statement may be deleted, duplicated or swapped without defeating the program's shape."""
    return not isinstance(stmt, _FIXED_STMTS + _TERMINAL_STMTS) and not is_inert(stmt)


def _sequence_like(node: ast.expr) -> bool:
    """An operand that makes `+`/`*` mean concatenation or repetition: not arithmetic to swap."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    return isinstance(node, (ast.List, ast.Tuple, ast.ListComp, ast.JoinedStr, ast.Set, ast.Dict))
