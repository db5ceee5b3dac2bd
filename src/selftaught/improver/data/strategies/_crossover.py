"""Code the two genetic algorithms of the library share (the crossover prompt): inserted into each where its marker
line stands."""


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
