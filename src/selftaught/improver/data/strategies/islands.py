"""Islands with migration, in the style of FunSearch (Romera-Paredes et al., Nature 2024): the population lives on
separate islands that evolve apart (each prompt shows two of its island's best solutions, worse first, and asks for
a better next version); every few calls the worst island is wiped and restarted from the best solution of the
best island (migration), so that diversity and progress are both kept."""

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


ISLANDS = 3
MIGRATE_EVERY = 2  # calls between migrations


def versions_message(versions, budget, utility):
    """FunSearch's best-shot prompt: earlier versions, worse first, and a request for the next, better one."""
    shown = "\n\n".join(f"Version {i} (score {budget.rank(v):.4g}):\n```python\n{v}\n```"
                        for i, v in enumerate(versions))
    return f"""Here are versions of a solution, each better than the one before:
{shown}

They are evaluated by this score function:
```python
{utility.str}
```

Write version {len(versions)}: better than all of the above, by an idea that is novel and non-trivial.
First, propose the idea, then implement it. Return the whole solution in one python code block."""


def best_of(island, budget):
    return max(island, key=budget.rank)


def improve_algorithm(initial_solution, utility, language_model):
    """Islands evolved apart, one call at a time for all of them; the worst is reseeded from the best now and then."""
    budget = Budget(utility, language_model)
    budget.score(initial_solution)
    islands = [[initial_solution] for _ in range(max(1, min(ISLANDS, budget.width)))]
    step = 0
    while budget.calls > 0 and budget.scores > 0:
        homes = [i % len(islands) for i in range(min(budget.width, budget.scores))]
        prompts = [versions_message(sorted(islands[i], key=budget.rank)[-2:], budget, utility) for i in homes]
        for home, child in zip(homes, budget.ask(prompts)):
            if child and budget.score(child) is not None and child not in islands[home]:
                islands[home].append(child)
        step += 1
        if step % MIGRATE_EVERY == 0 and len(islands) > 1:
            order = sorted(range(len(islands)), key=lambda i: budget.rank(best_of(islands[i], budget)))
            islands[order[0]] = [best_of(islands[order[-1]], budget)]
    return budget.best(initial_solution)
