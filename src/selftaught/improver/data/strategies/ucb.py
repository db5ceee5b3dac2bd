"""Upper-confidence-bound selection of solutions (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed):
every scored solution is an arm; the solution improved next is the one whose mean reward (its own score, then its
children's scores) plus an exploration bonus (UCB1) is highest, so that promising but little-tried solutions get
their turn."""

import math

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
