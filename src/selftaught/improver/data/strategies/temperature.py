"""A temperature schedule (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): the first calls sample at
a high temperature (diverse, exploratory ideas), later ones at lower temperatures (careful refinements of the best
solution so far)."""

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


HOT, COLD = 1.0, 0.3


def improve_algorithm(initial_solution, utility, language_model):
    """Each call improves the best solution so far, at a temperature falling from HOT to COLD over the calls."""
    budget = Budget(utility, language_model)
    budget.score(initial_solution)
    total = max(1, budget.calls)
    for step in range(total):
        if budget.calls < 1 or budget.scores < 1:
            break
        temperature = HOT if total == 1 else HOT - (HOT - COLD) * step / (total - 1)
        parent = budget.best(initial_solution)
        n = min(budget.width, budget.scores)
        for child in budget.ask([improve_message(parent, utility)] * n, temperature=temperature):
            if child:
                budget.score(child)
    return budget.best(initial_solution)
