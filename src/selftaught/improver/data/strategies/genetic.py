"""A genetic algorithm with explicit fitness (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): a
population of solutions, parents chosen by tournaments on their utility, children bred by the language model (a
mutation of one parent or a crossover of two), the fittest kept (elitism)."""

import random

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


POPULATION = 6
CROSSOVER = 0.5  # the chance that a child is bred from two parents rather than one


def crossover_message(a, b, utility):
    return f"""Here are two solutions to the same problem.
Solution A:
```python
{a}
```

Solution B:
```python
{b}
```

You will be evaluated based on this score function:
```python
{utility.str}
```

Write a new solution that combines the best ideas of A and B into something better than either.
First, say which idea you take from each, then implement it.
Return the whole new solution in one python code block."""


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
