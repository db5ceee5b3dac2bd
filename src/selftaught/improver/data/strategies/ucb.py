"""Upper-confidence-bound selection of solutions (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed):
every scored solution is an arm; the solution improved next is the one whose mean reward (its own score, then its
children's scores) plus an exploration bonus (UCB1) is highest, so that promising but little-tried solutions get
their turn."""

import math

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


EXPLORATION = 0.1  # the bonus's weight, on the scale of scores (normally in [0, 1])


def improve_algorithm(initial_solution, utility, language_model):
    """UCB1 over the archive of scored solutions; each message of a call improves the arm with the highest bound."""
    budget = Budget(utility, language_model)
    first = budget.score(initial_solution)
    arms = {initial_solution: [1, first if first is not None else 0.0]}  # solution -> [pulls, total reward]
    while budget.calls > 0 and budget.scores > 0:
        chosen = []
        for _ in range(min(budget.width, budget.scores)):
            total = sum(pulls for pulls, _ in arms.values())
            parent = max(arms, key=lambda s: arms[s][1] / arms[s][0]
                         + EXPLORATION * math.sqrt(2 * math.log(total) / arms[s][0]))
            arms[parent][0] += 1  # counted now, so the next message of this call may choose another arm
            chosen.append(parent)
        children = budget.ask(improve_message(parent, utility) for parent in chosen)
        for parent, child in zip(chosen, children):
            value = budget.score(child) if child else None
            if value is None:
                continue
            arms[parent][1] += value
            if child not in arms:
                arms[child] = [1, value]
    return budget.best(initial_solution)
