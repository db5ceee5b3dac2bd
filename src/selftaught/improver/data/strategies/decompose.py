"""Decompose and improve (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): split the solution into its
parts (its top-level functions and classes), ask the language model to improve one part at a time with the whole
program in view, put each improved part back in place, and go on from the best program so far. A program without
separate parts (or one that does not parse) is improved whole."""

import ast

from helpers import extract_code

EXPERTISE = (
    "You are an expert computer science researcher and programmer, "
    "especially skilled at optimizing algorithms."
)


class Budget:
    """The LM calls and utility calls left; each is counted before it is made, so no budget is ever overrun."""

    def __init__(self, utility, language_model):
        self.utility = utility
        self.language_model = language_model
        self.calls = language_model.budget - getattr(language_model, "times_used", 0)
        self.scores = utility.budget - getattr(utility, "uses", 0)
        self.width = max(1, int(language_model.max_responses_per_call))
        self.scored = {}  # solution -> its score; each solution is scored once

    def ask(self, messages, temperature=0.7):
        """The code of the reply to each message (None where a reply has none), from one call."""
        messages = list(messages)[: self.width]
        if not messages or self.calls < 1:
            return []
        self.calls -= 1
        try:
            codes = extract_code(list(self.language_model.batch_prompt(EXPERTISE, messages, temperature=temperature)))
        except Exception:  # a refusal (helpers.LanguageModelError) or any other failure: this call is lost
            return [None] * len(messages)
        return [code if isinstance(code, str) and code.strip() else None for code in codes]

    def score(self, solution):
        """The solution's score, or None once the utility's budget is spent (or the call failed)."""
        if solution in self.scored:
            return self.scored[solution]
        if self.scores < 1:
            return None
        self.scores -= 1
        try:
            value = float(self.utility(solution))
        except Exception:
            return None
        if value != value:  # NaN
            return None
        self.scored[solution] = value
        return value

    def rank(self, solution):
        return self.scored.get(solution, float("-inf"))

    def best(self, initial_solution):
        """The best-scoring solution scored (the earliest of equals), or the initial one if none was."""
        return max(self.scored, key=self.scored.get) if self.scored else initial_solution


def improve_message(solution, utility, hint=""):
    return f"""Improve the following solution:
```python
{solution}
```

You will be evaluated based on this score function:
```python
{utility.str}
```
{hint}
You must return an improved solution. Be as creative as you can under the constraints.
Your primary improvement must be novel and non-trivial. First, propose an idea, then implement it.
Return the whole improved solution in one python code block."""


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
