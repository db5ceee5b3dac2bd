"""A genetic algorithm with explicit fitness (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): a
population of solutions, parents chosen by tournaments on their utility, children bred by the language model (a
mutation of one parent or a crossover of two), the fittest kept (elitism)."""

import random

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


# --- inserted here: strategies/_crossover.py (code the library's strategies share) ---


POPULATION = 6
CROSSOVER = 0.5  # the chance that a child is bred from two parents rather than one


def tournament(population, budget):
    """The fitter of two members drawn at random (the only one if there is one)."""
    return max(random.sample(population, min(2, len(population))), key=budget.rank)


def improve_algorithm(initial_solution, utility, language_model):
    """Generations of LM-bred children; parents are chosen by their utility, the fittest survive."""
    budget = Budget(utility, language_model)
    budget.score(initial_solution)
    population = [initial_solution]
    while budget.calls > 0 and budget.scores > 0:
        messages = []
        for _ in range(min(budget.width, budget.scores)):
            a, b = tournament(population, budget), tournament(population, budget)
            if a != b and random.random() < CROSSOVER:
                messages.append(crossover_message(a, b, utility))
            else:
                messages.append(improve_message(a, utility))
        children = [c for c in budget.ask(messages) if c]
        for child in children:
            budget.score(child)
        pool = list(dict.fromkeys(population + [c for c in children if c in budget.scored]))
        population = sorted(pool, key=budget.rank, reverse=True)[:POPULATION]
    return budget.best(initial_solution)
