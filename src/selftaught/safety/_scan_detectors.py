"""The scan's second pass: each node checked on its own, with the first pass's facts, for every flag kind."""

from __future__ import annotations

import ast

from selftaught.safety._scan_facts import Facts, defaults, is_falsy_constant, is_importer, is_path, literal_str
from selftaught.safety._scan_facts import qualified as qualified_name
from selftaught.safety._scan_facts import targets as assigned_targets
from selftaught.safety._scan_kinds import (
    DICT_MUTATORS,
    ESCAPE_ATTRS,
    HARMLESS_DUNDERS,
    OPENERS,
    PATH_ONLY_WRITES,
    PATH_READS,
    PATH_WRITES,
    QUALIFIED,
    ROLES,
    Flag,
    module_kind,
)


def open_kind(mode: ast.expr | None) -> tuple[str, str]:
    """file_read or file_write for opening with `mode`, and how the mode was read."""
    if mode is None:
        return "file_read", "default mode 'r'"
    text = literal_str(mode)
    if text is None:
        return "file_write", "a computed mode"
    return ("file_write" if set(text) & set("wax+") else "file_read"), f"mode {text!r}"


class Scanner:
    """The second pass: every node is checked on its own, with the first pass's facts."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.flags: list[Flag] = []

    def add(self, kind: str, node: ast.AST, detail: str) -> None:
        self.flags.append(Flag(kind, getattr(node, "lineno", 0), detail))

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                self.import_(node, a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            self.import_(node, node.module)
            for a in node.names:  # `from os import remove` is judged here, where the name comes in
                self.qualified(node, f"{node.module}.{a.name}")
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Attribute):
            self.attribute(node)
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            self.add("internals_access", node, "__builtins__")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if literal_str(key) == "use_sandbox" and self.falsy(value):
                    self.add("sandbox_disabled", value, "dict entry 'use_sandbox' is falsy")
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for t, assigned in assigned_targets(target, None if isinstance(node, ast.AugAssign) else node.value):
                    self.store(t, assigned, "assigns")
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.store(target, None, "deletes")
        elif isinstance(node, ast.arguments):
            for param, default in defaults(node):
                if param.arg == "use_sandbox" and self.falsy(default):
                    self.add("sandbox_disabled", default, "parameter use_sandbox defaults to a falsy value")

    def import_(self, node: ast.AST, module: str) -> None:
        kind = module_kind(module)
        if kind:
            self.add(kind, node, f"imports {module}")

    def falsy(self, value: ast.expr | None) -> bool:
        if value is None:
            return False
        return is_falsy_constant(value) or (isinstance(value, ast.Name) and value.id in self.facts.falsy)

    def role(self, expr: ast.expr, deep: bool = False) -> str | None:
        """"utility" / "language_model" if `expr` is one of them (deep: or anything reached from one)."""
        if isinstance(expr, ast.Name):
            return self.facts.roles.get(expr.id)
        if isinstance(expr, ast.Attribute):
            if expr.attr in ROLES:
                return expr.attr
            return self.role(expr.value, deep) if deep else None
        if isinstance(expr, ast.Subscript) and deep:
            return self.role(expr.value, deep)
        return self.dict_of(expr)

    def dict_of(self, expr: ast.expr) -> str | None:
        """The role whose attribute dict `expr` is: `utility.__dict__` or `vars(utility)`."""
        if isinstance(expr, ast.Attribute) and expr.attr == "__dict__":
            return self.role(expr.value)
        if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "vars"
                and len(expr.args) == 1):
            return self.role(expr.args[0])
        return None

    def store(self, target: ast.expr, value: ast.expr | None, verb: str) -> None:
        if isinstance(target, ast.Name) and target.id == "use_sandbox" and self.falsy(value):
            self.add("sandbox_disabled", target, "use_sandbox assigned a falsy value")
        elif isinstance(target, ast.Attribute):
            if target.attr == "use_sandbox" and self.falsy(value):
                self.add("sandbox_disabled", target, ".use_sandbox assigned a falsy value")
            role = self.role(target.value, deep=True)
            if role:
                self.add("budget_tampering", target, f"{verb} an attribute of {role}: .{target.attr}")
        elif isinstance(target, ast.Subscript):
            if literal_str(target.slice) == "use_sandbox" and self.falsy(value):
                self.add("sandbox_disabled", target, "['use_sandbox'] assigned a falsy value")
            role = self.dict_of(target.value)
            if role:
                self.add("budget_tampering", target, f"{verb} an entry of {role}'s attribute dict")

    def call(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg == "use_sandbox" and self.falsy(kw.value):
                self.add("sandbox_disabled", kw.value, "use_sandbox=<falsy> in a call")
        func, args = node.func, node.args
        if self.role(func) == "utility" and len(args) >= 2 and self.falsy(args[1]):
            self.add("sandbox_disabled", node, "utility called with a falsy second argument (use_sandbox)")
        if isinstance(func, ast.Name) and func.id not in self.facts.bound and func.id not in self.facts.aliases:
            self.builtin_call(node, func.id)
        if is_importer(func, self.facts):
            module = literal_str(args[0]) if args else None
            if module is None:
                self.add("dynamic_code", node, "imports a computed module name")
            else:
                self.import_(node, module)
        if qualified_name(func, self.facts) in OPENERS:
            self.opener(node, args[1] if len(args) > 1 else None)
        if isinstance(func, ast.Attribute):
            self.method_call(node, func)

    def builtin_call(self, node: ast.Call, name: str) -> None:
        args = node.args
        first = args[0] if args else None
        if name in ("setattr", "delattr") and first is not None:
            if name == "setattr" and len(args) > 2 and literal_str(args[1]) == "use_sandbox" \
                    and self.falsy(args[2]):
                self.add("sandbox_disabled", node, "setattr(..., 'use_sandbox', <falsy>)")
            role = self.role(first, deep=True)
            if role:
                self.add("budget_tampering", node, f"{name} on {role}")
        elif name == "getattr" and first is not None and self.role(first):
            attr = literal_str(args[1]) if len(args) > 1 else None
            if attr and attr.startswith("_") and attr not in HARMLESS_DUNDERS:
                self.add("internals_access", node, f"getattr of {attr} on {self.role(first)}")
        elif name == "globals":
            self.add("internals_access", node, "globals()")
        elif name == "vars" and first is not None and self.role(first):
            self.add("internals_access", node, f"vars({self.role(first)})")
        elif name in ("exec", "eval", "compile"):
            self.add("dynamic_code", node, f"{name}()")
        elif name == "open":
            self.opener(node, args[1] if len(args) > 1 else None)

    def opener(self, node: ast.Call, mode: ast.expr | None) -> None:
        mode = next((kw.value for kw in node.keywords if kw.arg == "mode"), mode)
        kind, how = open_kind(mode)
        self.add(kind, node, f"opens a file ({how})")

    def method_call(self, node: ast.Call, func: ast.Attribute) -> None:
        receiver, method = func.value, func.attr
        if method in ("__setattr__", "__delattr__"):
            on_object = isinstance(receiver, ast.Name) and receiver.id in ("object", "type") and node.args
            role = self.role(node.args[0], deep=True) if on_object else self.role(receiver, deep=True)
            if role:
                self.add("budget_tampering", node, f"{method} on {role}")
        elif method in DICT_MUTATORS and self.dict_of(receiver):
            self.add("budget_tampering", node, f"{method}() on {self.dict_of(receiver)}'s attribute dict")
        if qualified_name(func, self.facts) is not None:
            return  # a module's function (os.rename, np.save): judged by its qualified name
        if method in PATH_READS:
            self.add("file_read", node, f".{method}()")
        elif method in PATH_WRITES or (method in PATH_ONLY_WRITES and is_path(receiver, self.facts)):
            self.add("file_write", node, f".{method}()")
        elif method == "open" and is_path(receiver, self.facts):
            self.opener(node, node.args[0] if node.args else None)

    def attribute(self, node: ast.Attribute) -> None:
        self.qualified(node, qualified_name(node, self.facts))
        role = self.role(node.value)
        if role and node.attr.startswith("_") and node.attr not in HARMLESS_DUNDERS:
            self.add("internals_access", node, f"{role}.{node.attr}")
        elif node.attr in ESCAPE_ATTRS:
            self.add("internals_access", node, f".{node.attr}")

    def qualified(self, node: ast.AST, name: str | None) -> None:
        if name is None:
            return
        kind = QUALIFIED.get(name)
        if kind is None and name.startswith("builtins."):
            kind = "internals_access"
        if kind:
            self.add(kind, node, name)
