"""The heuristic strategy tagger on small improver snippets: one per tag, and the seed improver."""

from __future__ import annotations

import pytest

from selftaught.improver import seed_improver
from selftaught.report._strategies import TAGS, strategy_tags

HEAD = "from helpers import extract_code\n\ndef improve_algorithm(initial_solution, utility, language_model):\n"

SNIPPETS = {
    "beam search": HEAD + """
    beam = [initial_solution]
    for _ in range(3):
        candidates = []
        for s in beam:
            candidates += extract_code(language_model.batch_prompt("x", [s] * 2))
        beam = sorted(candidates, key=utility, reverse=True)[:2]
    return beam[0]
""",
    "genetic algorithm": HEAD + """
    population = extract_code(language_model.batch_prompt("x", [initial_solution] * 4))
    for generation in range(2):
        parents = sorted(population, key=utility)[-2:]
        child = language_model.prompt("combine these (crossover):" + parents[0] + parents[1])
        population = parents + [child]
    return max(population, key=utility)
""",
    "simulated annealing": HEAD + """
    import math, random
    current, temp = initial_solution, 1.0
    for step in range(5):
        new = extract_code(language_model.batch_prompt("x", [current]))[0]
        delta = utility(new) - utility(current)
        if delta > 0 or random.random() < math.exp(delta / temp):
            current = new
        temp *= 0.9  # cooling
    return current
""",
    "bandit over prompts": HEAD + """
    import random
    prompts = ["make it faster", "make it more accurate"]
    rewards = [0.0, 0.0]
    epsilon = 0.2
    best = initial_solution
    for _ in range(3):
        arm = random.randrange(2) if random.random() < epsilon else rewards.index(max(rewards))
        code = language_model.prompt(prompts[arm] + best)
        rewards[arm] += utility(code)
    return best
""",
    "UCB selection": HEAD + """
    import math
    counts, values = [1, 1], [0.0, 0.0]
    def ucb(i, total):
        return values[i] / counts[i] + math.sqrt(2 * math.log(total) / counts[i])
    i = max(range(2), key=lambda i: ucb(i, 2))
    return language_model.prompt(str(i))
""",
    "temperature schedule": HEAD + """
    temperatures = [0.2, 0.6, 1.0]
    out = []
    for t in temperatures:
        out += extract_code(language_model.batch_prompt("x", [initial_solution], temperature=t))
    return max(out, key=utility)
""",
    "decomposition": HEAD + """
    plan = language_model.prompt("Decompose the problem into subproblems: " + initial_solution)
    return language_model.prompt("Solve each sub-problem, then combine: " + plan)
""",
}


@pytest.mark.parametrize("tag", sorted(SNIPPETS))
def test_each_snippet_gets_its_tag(tag: str) -> None:
    assert tag in strategy_tags(SNIPPETS[tag])


def test_the_seed_improver_is_sampling_and_best_of_n_only() -> None:
    assert strategy_tags(seed_improver()) == ["sampling + best-of-n"]


def test_a_plain_sampler_gets_no_search_tag() -> None:
    tags = strategy_tags(SNIPPETS["decomposition"])
    assert not set(tags) & {"beam search", "genetic algorithm", "simulated annealing", "bandit over prompts"}


def test_tags_are_in_a_fixed_order_and_unparsable_code_does_not_raise() -> None:
    tags = strategy_tags(SNIPPETS["genetic algorithm"])
    assert tags == [t for t in TAGS if t in tags]
    assert "beam search" in strategy_tags("def improve_algorithm(:\n  beam_width = 3")
    assert strategy_tags("") == []
