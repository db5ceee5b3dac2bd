"""A genetic algorithm with implicit fitness (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed):
selection is the language model's judgement, not the utility: each generation's parents are the winners of pairwise
comparisons the LM decides ("which of A and B will score higher?"). The utility is used only at the end, as its
budget allows, to pick the solution returned: the initial one, then the last winners, then the newest children."""

import random
import re

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


JUDGE = "You are an expert computer science researcher who judges which of two programs will perform better."


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


def breed_message(parents, utility):
    """A mutation of one parent, or (half the time, given two) a crossover of two."""
    if len(parents) < 2 or random.random() < 0.5:
        return improve_message(random.choice(parents), utility)
    return crossover_message(*random.sample(parents, 2), utility)


def compare_message(a, b, utility):
    return f"""Two solutions will be scored by this score function:
```python
{utility.str}
```

Solution A:
```python
{a}
```

Solution B:
```python
{b}
```

Which one will score higher? Reason briefly, then end with a last line holding only the letter A or B."""


def verdict(reply):
    """"A" or "B" as the reply's last line (else its last standalone A or B) says; None if it says neither."""
    if not isinstance(reply, str) or not reply.strip():
        return None
    for text in (reply.strip().splitlines()[-1], reply):
        found = re.findall(r"\b([AB])\b", text)
        if found:
            return found[-1]
    return None


def select(budget, pool, utility):
    """The winners of pairwise comparisons among `pool`, judged by the LM in one call (a random winner of a pair
    whose verdict is missing)."""
    pairs = [random.sample(pool, 2) for _ in range(budget.width)]
    if budget.calls < 1:
        return []
    budget.calls -= 1
    try:
        replies = list(budget.language_model.batch_prompt(JUDGE, [compare_message(a, b, utility) for a, b in pairs],
                                                          temperature=0.0))
    except Exception:  # a refusal or any other failure: no judgement this generation
        return []
    winners = []
    for (a, b), reply in zip(pairs, replies):
        choice = verdict(reply)
        winners.append(a if choice == "A" else b if choice == "B" else random.choice((a, b)))
    return list(dict.fromkeys(winners))


def improve_algorithm(initial_solution, utility, language_model):
    """Generations bred by the LM from parents the LM judged better; the utility picks the final answer."""
    budget = Budget(utility, language_model)
    budget.score(initial_solution)
    parents = [initial_solution]
    generations = []  # each generation's winners, then its children, in order of preference
    while budget.calls > 0 and budget.scores > 0:
        children = list(dict.fromkeys(c for c in budget.ask(breed_message(parents, utility)
                                                            for _ in range(budget.width)) if c))
        pool = list(dict.fromkeys(children + parents))
        winners = select(budget, pool, utility) if budget.calls > 0 and len(pool) > 1 else []
        generations.append(winners + children)
        parents = winners or children or parents
    for generation in reversed(generations):  # the newest first: the LM's latest judgement
        for solution in generation:
            if budget.scores < 1:
                break
            budget.score(solution)
    return budget.best(initial_solution)
