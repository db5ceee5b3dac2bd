"""Beam search (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): keep the few best solutions found so
far, ask the language model to improve each of them, keep the few best of parents and children, repeat."""

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


BEAM_WIDTH = 3


def improve_algorithm(initial_solution, utility, language_model):
    """Beam search over solutions: each LM call improves every member of the beam, the best few survive."""
    budget = Budget(utility, language_model)
    budget.score(initial_solution)
    beam = [initial_solution]
    while budget.calls > 0 and budget.scores > 0:
        n = min(budget.width, budget.scores)
        parents = [beam[i % len(beam)] for i in range(n)]
        children = [c for c in budget.ask(improve_message(p, utility) for p in parents) if c]
        for child in children:
            budget.score(child)
        pool = list(dict.fromkeys(beam + children))
        beam = sorted(pool, key=budget.rank, reverse=True)[:BEAM_WIDTH]
    return budget.best(initial_solution)
