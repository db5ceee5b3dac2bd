"""Decompose and improve (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): split the solution into its
parts (its top-level functions and classes), ask the language model to improve one part at a time with the whole
program in view, put each improved part back in place, and go on from the best program so far. A program without
separate parts (or one that does not parse) is improved whole."""

import ast

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


def parts(solution):
    """The top-level functions and classes of `solution`: (name, first line, last line), decorators included."""
    try:
        tree = ast.parse(solution)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found.append((node.name, first, node.end_lineno))
    return found


def part_message(solution, part, utility):
    name, first, last = part
    code = "\n".join(solution.splitlines()[first - 1:last])
    return f"""Here is a program:
```python
{solution}
```

It is evaluated by this score function:
```python
{utility.str}
```

Improve only this part of it, `{name}`:
```python
{code}
```

Keep its name and signature, so that the rest of the program still works with it. Your improvement must be
non-trivial. First, propose an idea, then implement it. Return the new `{name}` (with any new helper functions it
needs) in one python code block, not the rest of the program."""


def splice(solution, part, code, names):
    """`solution` with `part` replaced by `code`; the reply itself if it is a whole program (it defines every part);
    None if the result does not parse."""
    new_names = {name for name, _, _ in parts(code)}
    if names <= new_names:
        new = code
    else:
        lines = solution.splitlines()
        new = "\n".join(lines[:part[1] - 1] + code.splitlines() + lines[part[2]:])
    try:
        ast.parse(new)
    except (SyntaxError, ValueError):
        return None
    return new


def improve_algorithm(initial_solution, utility, language_model):
    """Improves the best program so far one part at a time (every part in turn, one call at a time)."""
    budget = Budget(utility, language_model)
    budget.score(initial_solution)
    turn = 0
    while budget.calls > 0 and budget.scores > 0:
        current = budget.best(initial_solution)
        pieces = parts(current)
        n = min(budget.width, budget.scores)
        if len(pieces) < 2:
            children = [c for c in budget.ask([improve_message(current, utility)] * n) if c]
        else:
            chosen = [pieces[(turn + i) % len(pieces)] for i in range(n)]
            turn += n
            names = {name for name, _, _ in pieces}
            replies = budget.ask(part_message(current, part, utility) for part in chosen)
            children = [splice(current, part, code, names) for part, code in zip(chosen, replies) if code]
        for child in children:
            if child:
                budget.score(child)
    return budget.best(initial_solution)
