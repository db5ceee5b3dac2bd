"""Simulated annealing (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed): one current solution; the
language model proposes neighbours (variations of it); a better neighbour is always accepted, a worse one with the
probability exp(-loss / temperature), the temperature cooling after each proposal. The best solution seen is
returned, not the current one."""

import math
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
