"""Whether a program defines its entrypoint, read from its syntax tree: the one rule for every user-given program."""

from __future__ import annotations

import ast
from collections.abc import Iterator

#: Values that are never callable: `algorithm = 5`, `= "x"`, `= [f]`, `= {...}`, `= (f, g)`, `= f"..."`.
_LITERALS = (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr, ast.ListComp, ast.SetComp,
             ast.DictComp, ast.GeneratorExp)
_BLOCKS = (ast.If, ast.Try, ast.TryStar, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)


def entrypoint_problem(tree: ast.Module, name: str) -> str | None:
    """None when the module level binds `name` to something that may be a function (a def, a class, an import, or
    an expression that is not a literal); else what is wrong, as the end of a sentence about the file.

    Straight-line statements are read in order (the last binding wins); a binding inside a module-level `if`,
    `try`, `with` or loop may or may not happen, so a callable one there is accepted.
    """
    state: str | None = None  # None: unbound; "ok": may be a function; else the literal it is bound to
    for node, certain in _module_level(tree.body):
        found = _binding(node, name)
        if found is None:
            continue
        if certain or found == "ok" or state is None:  # a literal in a block may not happen: it keeps a callable
            state = found
    if state is None:
        return f"does not define {name}(): define it at the top level with `def {name}(...):`"
    if state != "ok":
        return f"binds {name} to {state}, which is not a function: define it with `def {name}(...):`"
    return None


def _module_level(body: list[ast.stmt], certain: bool = True) -> Iterator[tuple[ast.stmt, bool]]:
    """Module-level statements in order, with whether they certainly run (False inside a block); not the bodies of
    functions or classes."""
    for node in body:
        if isinstance(node, _BLOCKS):
            for field in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, field, []), False)
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body, False)
        else:
            yield node, certain


def _binding(node: ast.stmt, name: str) -> str | None:
    """How `node` binds `name`: "ok" (may be a function), the source of a literal value, or None (no binding)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "ok" if node.name == name else None
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        bound = {alias.asname or alias.name.split(".")[0] for alias in node.names}
        return "ok" if name in bound else None
    if isinstance(node, ast.Assign):
        targets = node.targets
        value: ast.expr | None = node.value
    elif isinstance(node, ast.AnnAssign):
        targets, value = [node.target], node.value
    else:
        return None
    if any(isinstance(t, ast.Name) and t.id == name for t in targets):
        if isinstance(value, _LITERALS):
            text = ast.unparse(value)
            return f"`{text if len(text) <= 40 else text[:37] + '...'}`"
        return "ok" if value is not None else None  # `algorithm: Callable` alone binds nothing
    nested = [n for t in targets if not isinstance(t, ast.Name) for n in ast.walk(t)]
    return "ok" if any(isinstance(n, ast.Name) and n.id == name for n in nested) else None
