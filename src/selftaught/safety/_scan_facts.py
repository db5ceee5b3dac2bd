"""The scan's first pass: what a program's names are bound to (imports, utility/LM, falsy values, paths)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from selftaught.safety._scan_kinds import IMPORTERS, PATH_CLASSES, ROLES


@dataclass
class Facts:
    """What a first pass learns about names: imports, who holds utility/LM, falsy and path variables."""

    aliases: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    falsy: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    bound: set[str] = field(default_factory=set)


def facts_of(tree: ast.AST) -> Facts:
    """The facts about the names of a parsed program."""
    facts = Facts(roles={role: role for role in ROLES})
    nodes = list(ast.walk(tree))
    falsy_seen: dict[str, bool] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                facts.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            facts.aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            facts.bound.add(node.name)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            facts.bound.add(node.id)
        elif isinstance(node, ast.arg):
            facts.bound.add(node.arg)
        for name, value in bindings(node):
            falsy_seen[name] = falsy_seen.get(name, True) and value is not None and is_falsy_constant(value)
    facts.falsy = {name for name, falsy in falsy_seen.items() if falsy}
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "improve_algorithm":
            params = [*node.args.posonlyargs, *node.args.args]
            facts.roles.update({p.arg: role for p, role in zip(params[1:3], ("utility", "language_model"),
                                                                  strict=False)})
    for _ in range(3):  # aliases of aliases (u = utility; v = u)
        for node in nodes:
            for name, value in bindings(node):
                if isinstance(value, ast.Call) and is_importer(value.func, facts) and value.args:
                    module = literal_str(value.args[0])  # m = __import__("os")
                    facts.aliases.update({name: module} if module else {})
                elif isinstance(value, ast.Name) and value.id in facts.roles:
                    facts.roles.setdefault(name, facts.roles[value.id])
                elif value is not None and is_path(value, facts):
                    facts.paths.add(name)
    return facts


def bindings(node: ast.AST) -> Iterable[tuple[str, ast.expr | None]]:
    """(name, value) pairs a node binds (value None when unknown): assignments, walrus, parameter defaults."""
    if isinstance(node, ast.arguments):
        yield from ((param.arg, default) for param, default in defaults(node))
        return
    if isinstance(node, ast.Assign):
        pairs = [pair for target in node.targets for pair in targets(target, node.value)]
    elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
        pairs = list(targets(node.target, node.value))
    else:
        return
    yield from ((target.id, value) for target, value in pairs if isinstance(target, ast.Name))


def targets(target: ast.expr, value: ast.expr | None) -> Iterable[tuple[ast.expr, ast.expr | None]]:
    """Each assigned expression with its value when known (tuple unpacking paired element by element)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else []
        paired = len(values) == len(target.elts)
        for i, t in enumerate(target.elts):
            yield from targets(t, values[i] if paired else None)
    else:
        yield target, value


def defaults(args: ast.arguments) -> Iterable[tuple[ast.arg, ast.expr]]:
    """Each parameter that has a default, with that default."""
    positional = [*args.posonlyargs, *args.args]
    yield from zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True)
    yield from ((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None)


def is_falsy_constant(value: ast.expr) -> bool:
    """A literal that is falsy (False, 0, None, "") or `not <truthy literal>`."""
    if isinstance(value, ast.Constant):
        return not value.value
    return (isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not)
            and isinstance(value.operand, ast.Constant) and bool(value.operand.value))


def qualified(expr: ast.expr, facts: Facts) -> str | None:
    """`os.path.join` -> "os.path.join" when `os` was imported; None for anything not from an import."""
    if isinstance(expr, ast.Name):
        return facts.aliases.get(expr.id)
    if isinstance(expr, ast.Attribute):
        base = qualified(expr.value, facts)
        return f"{base}.{expr.attr}" if base else None
    return None


def literal_str(node: ast.expr | None) -> str | None:
    """The value of a string literal; None for anything else."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def is_importer(func: ast.expr, facts: Facts) -> bool:
    """Whether calling `func` imports a module: the builtin `__import__` or `importlib.import_module`."""
    builtin = isinstance(func, ast.Name) and func.id == "__import__" and func.id not in facts.bound
    return builtin or qualified(func, facts) in IMPORTERS


def is_path(expr: ast.expr, facts: Facts) -> bool:
    """Whether `expr` is a pathlib path: `Path(...)`, `path / "x"`, or a name bound to one."""
    if isinstance(expr, ast.Call):
        return qualified(expr.func, facts) in PATH_CLASSES
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        return is_path(expr.left, facts)
    return isinstance(expr, ast.Name) and expr.id in facts.paths
