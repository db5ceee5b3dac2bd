"""AST helpers of the mutate backend: parsing, node kinds, the pre-order walk, name bindings."""

from __future__ import annotations

import ast

from selftaught._ast import parse_python

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
DEF_LIKE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SHARED = (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)


def parse(source: str) -> ast.Module | None:
    try:
        return parse_python(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def fits(tree: ast.AST, max_nodes: int, max_depth: int) -> bool:
    """Whether `tree` has at most `max_nodes` nodes and `max_depth` levels (stops counting past either)."""
    nodes = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes or depth > max_depth:
            return False
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return True


def preorder(tree: ast.AST, *, fstrings: bool) -> list[ast.AST]:
    """All nodes in source order, except the operator and context nodes (shared singletons).

    With `fstrings=False` the walk does not descend into f-strings (string literals are left alone).
    """
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if fstrings or not isinstance(node, ast.JoinedStr):
            stack.extend(c for c in reversed(list(ast.iter_child_nodes(node))) if not isinstance(c, _SHARED))
    return out


def is_inert(stmt: ast.stmt) -> bool:
    """A bare string expression (a docstring or comment-like literal)."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(
        stmt.value.value, str)


def stored(node: ast.AST) -> set[str]:
    """The names that `node` binds (assigns or deletes) anywhere inside it."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}


def bodies(tree: ast.Module) -> list[list[ast.stmt]]:
    """Every statement list of the tree (bodies, else branches, finally blocks)."""
    out: list[list[ast.stmt]] = []
    for node in preorder(tree, fstrings=False):
        for field in ("body", "orelse", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and all(isinstance(s, ast.stmt) for s in value):
                out.append(value)
    return out


class Bindings:
    """Where names are bound and read, to avoid deleting or reordering the binding a later read needs.

    Approximate on purpose (one namespace for the whole tree, source order for control flow):
    it only has to keep most structural mutations runnable, not to be a scope analysis. Built in one
    pass; each question costs the size of the statements it is about (never a scan of every read).
    """

    def __init__(self, tree: ast.AST) -> None:
        self.position: dict[int, int] = {}
        self.last: dict[int, int] = {}  # a node's id -> the last preorder position inside its subtree
        self.first_bind: dict[str, int] = {}
        self.last_read: dict[str, int] = {}
        order = preorder(tree, fstrings=True)
        for pos, node in enumerate(order):
            self.position[id(node)] = pos
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    self.last_read[node.id] = pos
                else:
                    self.first_bind.setdefault(node.id, pos)
            elif isinstance(node, ast.arg):
                self.first_bind.setdefault(node.arg, pos)
        for pos in range(len(order) - 1, -1, -1):  # children come after their parent: fold them upwards
            node = order[pos]
            self.last[id(node)] = max([pos, *(self.last.get(id(c), pos) for c in ast.iter_child_nodes(node))])

    def _bound_before(self, name: str, pos: int) -> bool:
        return self.first_bind.get(name, pos) < pos

    def sole_binder(self, stmt: ast.stmt) -> bool:
        """Whether a name `stmt` binds is read after it with no earlier binding to fall back on."""
        start, end = self.position[id(stmt)], self.last[id(stmt)]
        return any(self.last_read.get(name, -1) > end and not self._bound_before(name, start)
                   for name in stored(stmt))

    def feeds(self, first: ast.stmt, second: ast.stmt) -> bool:
        """Whether `second` reads a name that `first` binds with no earlier binding (a swap would unbind it)."""
        start = self.position[id(first)]
        read = {n.id for n in ast.walk(second) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        return any(name in read and not self._bound_before(name, start) for name in stored(first))
