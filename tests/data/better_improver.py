from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Spends the whole LM budget (not just one call) and keeps the best solution seen."""
    expertise = (
        "You are an expert computer science researcher and programmer, "
        "especially skilled at optimizing algorithms."
    )
    message = f"""Improve the following solution:
```python
{initial_solution}
```

You will be evaluated based on this score function:
```python
{utility.str}
```

You must return an improved solution. Be as creative as you can under the constraints.
Your primary improvement must be novel and non-trivial. First, propose an idea, then implement it."""
    best, best_score = initial_solution, utility(initial_solution)
    n = min(language_model.max_responses_per_call, utility.budget)
    for _ in range(language_model.budget):
        replies = language_model.batch_prompt(expertise, [message] * n, temperature=0.7)
        for code in extract_code(replies):
            if code is None or utility.uses >= utility.budget:
                continue
            score = utility(code)
            if score > best_score:
                best, best_score = code, score
    return best
