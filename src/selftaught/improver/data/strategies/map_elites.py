"""A MAP-Elites grid over code features, in the style of OpenEvolve: solutions are placed in the cells of a grid by
two features of their code (their length and their amount of control flow, each lower, alike or higher than the
initial solution's); each cell keeps its best (its elite). Parents are drawn from the occupied cells, each shown
with another elite as inspiration, so the search keeps solutions of different shapes instead of one lineage."""

import ast
import random

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


def features(solution):
    """(lines, branches and loops) of the code; a program that does not parse counts its lines only."""
    lines = len([line for line in solution.splitlines() if line.strip()])
    try:
        tree = ast.parse(solution)
    except (SyntaxError, ValueError):
        return lines, 0
    flow = (ast.For, ast.While, ast.If, ast.IfExp, ast.comprehension, ast.Try)
    return lines, sum(isinstance(node, flow) for node in ast.walk(tree))


def level(value, reference):
    """0, 1 or 2: well below, about, or well above `reference`."""
    if value < 0.8 * reference:
        return 0
    return 1 if value <= 1.25 * reference + 1 else 2


def cell(solution, reference):
    return tuple(level(v, r) for v, r in zip(features(solution), reference))


def parent_message(parent, inspiration, budget, utility):
    if inspiration is None:
        return improve_message(parent, utility)
    return f"""Improve the following solution (score {budget.rank(parent):.4g}):
```python
{parent}
```

For inspiration, here is another solution of a different shape (score {budget.rank(inspiration):.4g}):
```python
{inspiration}
```

You will be evaluated based on this score function:
```python
{utility.str}
```

You must return an improved version of the first solution; borrow from the second where it helps.
Your improvement must be novel and non-trivial. First, propose an idea, then implement it.
Return the whole improved solution in one python code block."""


def improve_algorithm(initial_solution, utility, language_model):
    """Elites of a 3x3 grid over (length, control flow); each call breeds children of elites of random cells."""
    budget = Budget(utility, language_model)
    budget.score(initial_solution)
    reference = features(initial_solution)
    grid = {cell(initial_solution, reference): initial_solution}
    while budget.calls > 0 and budget.scores > 0:
        pairs = []
        for _ in range(min(budget.width, budget.scores)):
            parent = grid[random.choice(list(grid))]
            others = [elite for elite in grid.values() if elite != parent]
            pairs.append((parent, random.choice(others) if others else None))
        for child in budget.ask(parent_message(p, i, budget, utility) for p, i in pairs):
            if child is None or budget.score(child) is None:
                continue
            where = cell(child, reference)
            if where not in grid or budget.rank(child) > budget.rank(grid[where]):
                grid[where] = child
    return budget.best(initial_solution)
