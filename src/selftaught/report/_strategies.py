"""Heuristic strategy tags of an improver (beam search, genetic algorithm, ...) from a static read of its code."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from selftaught._ast import parse_python

TAGS = ("sampling + best-of-n", "iterative refinement", "beam search", "genetic algorithm", "simulated annealing",
        "bandit over prompts", "UCB selection", "temperature schedule", "decomposition")
LM_METHODS = {"batch_prompt", "prompt", "language_model", "complete", "generate"}


class _Facts:
    """What the tag rules look at: identifiers, string constants, calls, and where LM calls sit."""

    def __init__(self, code: str) -> None:
        self.words = ""  # identifiers, attribute names and keyword names, lowercased, space-separated
        self.text = code.lower()  # strings and comments are in here too
        self.calls: set[str] = set()
        self.lm_in_loop = False
        self.lm_calls = 0
        self.best_by_utility = False
        self.varying_temperature = False
        self.top_k_in_loop = False
        self.metropolis = False  # random() < exp(...): accepting a worse candidate with some probability
        self.parsed = True
        try:
            tree = parse_python(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self.parsed = False
            self.words = " ".join(re.findall(r"[a-z_][a-z0-9_]*", self.text))
            return
        names: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.append(node.id)
            elif isinstance(node, ast.Attribute):
                names.append(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.append(node.name)
            elif isinstance(node, ast.arg):
                names.append(node.arg)
            elif isinstance(node, ast.Call):
                self._call(node)
            elif isinstance(node, ast.For | ast.While):
                self._loop(node)
            elif isinstance(node, ast.Compare):
                called = {_call_name(n) for n in ast.walk(node) if isinstance(n, ast.Call)}
                self.metropolis |= "exp" in called and bool(called & {"random", "rand", "uniform"})
        self.words = " ".join(n.lower() for n in names)

    def _call(self, node: ast.Call) -> None:
        name = _call_name(node)
        self.calls.add(name)
        if name in LM_METHODS:
            self.lm_calls += 1
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if name in {"max", "sorted", "nlargest", "sort", "min"} and "key" in keywords and _mentions(
                keywords["key"], "utility"):
            self.best_by_utility = True
        if name in LM_METHODS and "temperature" in keywords and not isinstance(keywords["temperature"], ast.Constant):
            self.varying_temperature = True

    def _loop(self, node: ast.For | ast.While) -> None:
        inner = [n for n in ast.walk(node) if n is not node]
        if any(isinstance(n, ast.Call) and _call_name(n) in LM_METHODS for n in inner):
            self.lm_in_loop = True
            if any(isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Slice) and n.slice.upper is not None
                   and isinstance(n.value, ast.Call) and _call_name(n.value) in {"sorted", "nlargest"}
                   for n in inner) or any(isinstance(n, ast.Call) and _call_name(n) == "nlargest" for n in inner):
                self.top_k_in_loop = True

    def has_word(self, *patterns: str) -> bool:
        return any(re.search(p, self.words) for p in patterns)

    def has_text(self, *patterns: str) -> bool:
        return any(re.search(p, self.text) for p in patterns)


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _mentions(node: ast.AST, name: str) -> bool:
    return any((isinstance(n, ast.Name) and n.id == name) or (isinstance(n, ast.Attribute) and n.attr == name)
               for n in ast.walk(node))


RULES: dict[str, Callable[[_Facts], bool]] = {
    "beam search": lambda f: f.has_word(r"beam") or f.top_k_in_loop,
    "genetic algorithm": lambda f: f.has_word(r"crossover", r"genetic", r"offspring", r"\bpopulation", r"mutat")
    or f.has_text(r"genetic algorithm", r"crossover"),
    "simulated annealing": lambda f: f.metropolis or f.has_word(r"anneal", r"cooling")
    or f.has_text(r"simulated annealing"),
    "bandit over prompts": lambda f: f.has_word(r"bandit", r"epsilon", r"thompson", r"\barms?\b", r"_arms?\b")
    or f.has_text(r"multi-armed", r"bandit"),
    "UCB selection": lambda f: f.has_word(r"\bucb", r"upper_confidence") or f.has_text(r"upper confidence", r"\bucb"),
    "temperature schedule": lambda f: f.varying_temperature
    or f.has_word(r"temperatures\b", r"temp(erature)?_schedule", r"temperature_decay"),
    "decomposition": lambda f: f.has_word(r"decompos", r"subproblem", r"sub_problem", r"subtask")
    or f.has_text(r"decompos", r"sub-?problems?", r"break (it|the problem) down", r"divide and conquer"),
    "iterative refinement": lambda f: f.lm_in_loop,
    "sampling + best-of-n": lambda f: f.lm_calls > 0 and f.best_by_utility,
}


def strategy_tags(code: str) -> list[str]:
    """The tags (in `TAGS` order) whose heuristic rules match `code`: names, strings and the shape of LM calls.

    Heuristic, like the paper's hand reading in section 5: a tag says the code looks like it uses the
    strategy, not that it implements it correctly. Unparsable code is read from its words only.
    """
    facts = _Facts(code)
    return [tag for tag in TAGS if RULES[tag](facts)]
