"""Simulated annealing (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): one current solution; the
language model proposes neighbours (variations of it); a better neighbour is always accepted, a worse one with the
probability exp(-loss / temperature), the temperature cooling after each proposal. The best solution seen is
returned, not the current one."""

import math
import random

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


START_TEMPERATURE = 0.05  # scores are normally in [0, 1]: a loss of 0.05 is accepted at first with chance 1/e
COOLING = 0.7  # the temperature is multiplied by this after each proposal


def improve_algorithm(initial_solution, utility, language_model):
    """Metropolis acceptance of LM-proposed neighbours under a cooling temperature."""
    budget = Budget(utility, language_model)
    current = initial_solution
    current_score = budget.score(initial_solution)
    temperature = START_TEMPERATURE
    hint = "Make one focused change (a neighbour of this solution), not a rewrite."
    while budget.calls > 0 and budget.scores > 0:
        n = min(budget.width, budget.scores)
        proposals = [c for c in budget.ask([improve_message(current, utility, hint)] * n) if c]
        random.shuffle(proposals)
        for proposal in proposals:
            value = budget.score(proposal)
            if value is None:
                continue
            if current_score is None or value >= current_score or \
                    random.random() < math.exp((value - current_score) / temperature):
                current, current_score = proposal, value
            temperature *= COOLING
    return budget.best(initial_solution)
