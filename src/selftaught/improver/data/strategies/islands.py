"""Islands with migration, in the style of FunSearch (Romera-Paredes et al., Nature 2024): the population lives on
separate islands that evolve apart (each prompt shows two of its island's best solutions, worse first, and asks for
a better next version); every few calls the worst island is wiped and restarted from the best solution of the
best island (migration), so that diversity and progress are both kept."""

from helpers import extract_code

# --- inserted here: strategies/_budget.py (code the library's strategies share) ---


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
