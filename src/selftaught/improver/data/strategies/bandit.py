"""A multi-armed bandit over prompts (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): several ways
of asking for an improvement are the arms; each message of a call picks its arm by Thompson sampling (a draw from
each arm's Beta posterior of beating the best solution so far); each scored child is that arm's reward."""

import random

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


ARMS = (
    "Rethink the approach: replace the core algorithm with a better one.",
    "Keep the approach, but tune its parameters, thresholds and heuristics.",
    "Make it robust: handle edge cases and failures, so that no input makes it score badly.",
    "Make it faster, so that more useful computation fits in the same time.",
    "Combine the current approach with a complementary technique (an ensemble, restarts, a fallback).",
)


def improve_algorithm(initial_solution, utility, language_model):
    """Thompson sampling over prompt styles; each call improves the best solution so far."""
    budget = Budget(utility, language_model)
    budget.score(initial_solution)
    wins, losses = [0] * len(ARMS), [0] * len(ARMS)
    while budget.calls > 0 and budget.scores > 0:
        parent = budget.best(initial_solution)
        bar = budget.rank(parent)
        arms = [max(range(len(ARMS)), key=lambda i: random.betavariate(1 + wins[i], 1 + losses[i]))
                for _ in range(min(budget.width, budget.scores))]
        children = budget.ask(improve_message(parent, utility, f"Focus: {ARMS[arm]}") for arm in arms)
        for arm, child in zip(arms, children):
            value = budget.score(child) if child else None
            if value is not None and value > bar:
                wins[arm] += 1
            else:
                losses[arm] += 1
    return budget.best(initial_solution)
