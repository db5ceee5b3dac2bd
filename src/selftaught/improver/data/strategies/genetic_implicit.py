"""A genetic algorithm with implicit fitness (STOP, arXiv 2310.02304, one of the strategies GPT-4 proposed):
selection is the language model's judgement, not the utility: each generation's parents are the winners of pairwise
comparisons the LM decides ("which of A and B will score higher?"). The utility is used only at the end, as its
budget allows, to pick the solution returned: the initial one, then the last winners, then the newest children."""

import random
import re

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


# --- inserted here: strategies/_crossover.py (code the library's strategies share) ---


JUDGE = "You are an expert computer science researcher who judges which of two programs will perform better."


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
