"""The offline mutate backend: valid, distinct, deterministic mutations of the right code block."""

from __future__ import annotations

import ast

from selftaught.improver import extract_code
from selftaught.lm import CompletionRequest, MutateBackend

SYSTEM = "You are an expert computer science researcher and programmer, especially skilled at optimizing algorithms."

SOLUTION = '''import numpy as np


def algorithm(train_samples, train_parity, test_samples):
    """Majority vote with a threshold."""
    threshold = 0.5
    best = None
    for i in range(len(train_samples)):
        score = train_parity[i] * 2 + 1
        if score > threshold and (best is None or score < best):
            best = score
    predictions = [min(1, int(best or 0)) for _ in test_samples]
    return predictions
'''

UTILITY = '''import numpy as np


def utility(algorithm_str: str):
    """Scores the algorithm: 7 noisy parity instances, 100 train samples each."""
    n_tests = 7
    total = 0.25
    exec(algorithm_str, globals())
    for _ in range(n_tests):
        if total > 3:
            total = total - 1
    return total / n_tests
'''

IMPROVER = '''from helpers import extract_code


def improve_algorithm(initial_solution, utility, language_model):
    """Asks the language model for improved solutions and returns the best-scoring one."""
    expertise = "You are an expert."
    message = f"""Improve the following solution:
```python
{initial_solution}
```

You will be evaluated based on this score function:
```python
{utility.str}
```
First, propose an idea, then implement it."""
    n_messages = min(language_model.max_responses_per_call, utility.budget)
    new_solutions = language_model.batch_prompt(expertise, [message] * n_messages, temperature=0.7)
    new_solutions = extract_code(new_solutions)
    best_solution = max(new_solutions, key=utility)
    return best_solution
'''

META_UTILITY = '''from algorithm import algorithm_str
from task_utility import utility
from language_model import LanguageModel


def meta_utility(improve_str: str):
    """Runs the improver 5 times on the downstream task and averages the utility."""
    n_tests = 5
    expected_utility = 0
    for _ in range(n_tests):
        exec(improve_str, globals())
        language_model = LanguageModel(budget=4, max_responses_per_call=6)
        improved = improve_algorithm(algorithm_str, utility, language_model)
        expected_utility += utility(improved) / n_tests
    return expected_utility
'''


def seed_message(solution: str, scorer: str) -> str:
    return f"""Improve the following solution:
```python
{solution}
```

You will be evaluated based on this score function:
```python
{scorer}
```

You must return an improved solution. Be as creative as you can under the constraints.
Your primary improvement must be novel and non-trivial. First, propose an idea, then implement it."""


def request(message: str, n: int = 20, *, first: int = 0, seed: int = 3, temperature: float = 0.7) -> CompletionRequest:
    return CompletionRequest(SYSTEM, message, temperature, n, first, seed)


def canonical(source: str) -> str:
    return ast.unparse(ast.parse(source))


def top_functions(source: str) -> list[str]:
    return [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]


def codes(replies: list[str]) -> list[str]:
    out = []
    for reply in replies:
        code = extract_code(reply)
        assert isinstance(code, str), reply
        out.append(code)
    return out


def test_returns_exactly_n_replies_each_with_an_idea_and_one_python_block() -> None:
    replies = MutateBackend().complete(request(seed_message(SOLUTION, UTILITY), n=7))
    assert len(replies) == 7
    for reply in replies:
        assert reply.startswith("Idea: ")
        assert reply.count("```python") == 1


def test_mutated_solutions_parse_differ_from_the_parent_and_keep_function_names() -> None:
    for code in codes(MutateBackend().complete(request(seed_message(SOLUTION, UTILITY), n=40))):
        assert canonical(code) != canonical(SOLUTION)
        assert top_functions(code) == ["algorithm"]


def test_the_scorer_block_is_never_mutated_or_returned() -> None:
    utility_first = f"Score function:\n```python\n{UTILITY}\n```\nSolution:\n```python\n{SOLUTION}\n```\n"
    for message in (seed_message(SOLUTION, UTILITY), utility_first):
        for code in codes(MutateBackend().complete(request(message, n=40))):
            assert "utility" not in top_functions(code)
            assert "n_tests" not in code


def test_same_request_and_sample_index_give_the_same_reply() -> None:
    message = seed_message(SOLUTION, UTILITY)
    first = MutateBackend().complete(request(message, n=10))
    again = MutateBackend().complete(request(message, n=10))
    assert first == again


def test_a_reply_depends_on_its_sample_index_not_on_its_position_in_the_batch() -> None:
    message = seed_message(SOLUTION, UTILITY)
    whole = MutateBackend().complete(request(message, n=10))
    tail = MutateBackend().complete(request(message, n=4, first=6))
    assert tail == whole[6:]


def test_different_sample_indices_give_mostly_different_replies() -> None:
    replies = MutateBackend().complete(request(seed_message(SOLUTION, UTILITY), n=20))
    assert len(set(replies)) >= 15


def test_the_run_seed_changes_the_replies() -> None:
    message = seed_message(SOLUTION, UTILITY)
    assert MutateBackend().complete(request(message, seed=1)) != MutateBackend().complete(request(message, seed=2))


def test_temperature_zero_makes_one_light_mutation() -> None:
    parent = ast.parse(SOLUTION)
    for reply in MutateBackend().complete(request(seed_message(SOLUTION, UTILITY), n=20, temperature=0.0)):
        assert reply.splitlines()[0].count(";") == 0  # a single note: a single mutation
        child = ast.parse(str(extract_code(reply)))
        # Light mutations change values or operators, never the statement structure.
        assert len(list(ast.walk(child))) == len(list(ast.walk(parent)))


def test_higher_temperature_applies_more_mutations() -> None:
    message = seed_message(SOLUTION, UTILITY)

    def notes(temperature: float) -> int:
        replies = MutateBackend().complete(request(message, n=40, temperature=temperature))
        return sum(reply.splitlines()[0].count(";") + 1 for reply in replies)

    assert notes(1.5) > notes(0.0)


def test_string_literals_are_left_alone() -> None:
    solution = 'def algorithm(x):\n    label = "keep-this-text"\n    return label + str(x * 3)\n'
    for code in codes(MutateBackend().complete(request(seed_message(solution, UTILITY), n=30))):
        assert "keep-this-text" in code


def test_improver_with_fences_in_its_prompt_is_found_whole_and_returned_extractable() -> None:
    replies = MutateBackend().complete(request(seed_message(IMPROVER, META_UTILITY), n=30))
    for code in codes(replies):
        tree = ast.parse(code)
        assert top_functions(code) == ["improve_algorithm"]
        assert canonical(code) != canonical(IMPROVER)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
        assert [a.arg for a in fn.args.args] == ["initial_solution", "utility", "language_model"]
        assert "meta_utility" not in code


def test_a_bare_fence_inside_a_string_literal_does_not_cut_the_program_short() -> None:
    solution = 'def algorithm(x):\n    text = """\n```\n"""\n    return len(text) * x + 2\n'
    for code in codes(MutateBackend().complete(request(seed_message(solution, UTILITY), n=20))):
        assert top_functions(code) == ["algorithm"]
        assert "```" in code  # the string literal survives, fence included


def test_improver_mutations_often_tune_the_sampling_temperature() -> None:
    replies = MutateBackend().complete(request(seed_message(IMPROVER, META_UTILITY), n=40))
    tuned = [code for code in codes(replies) if "temperature=0.7" not in code and "temperature=" in code]
    assert len(tuned) >= 5


def test_recombination_takes_material_from_two_parents() -> None:
    parent_a = "def helper(x):\n    return 'from_a_helper'\n\n\ndef algorithm(x):\n    return 'from_a_algorithm'\n"
    parent_b = "def helper(x):\n    return 'from_b_helper'\n\n\ndef algorithm(x):\n    return 'from_b_algorithm'\n"
    message = (f"Candidates:\n```python\n{parent_a}\n```\n```python\n{parent_b}\n```\n"
               f"Score:\n```python\n{UTILITY}\n```\n")
    mixed = [code for code in codes(MutateBackend().complete(request(message, n=30)))
             if "from_a_" in code and "from_b_" in code]
    assert len(mixed) >= 5
    for code in mixed:
        assert sorted(top_functions(code)) == ["algorithm", "helper"]


def test_recombination_of_a_single_shared_function_splices_both_bodies() -> None:
    parent_a = "def algorithm(x):\n    a1 = 'A1'\n    a2 = 'A2'\n    a3 = 'A3'\n    return x\n"
    parent_b = "def algorithm(x):\n    b1 = 'B1'\n    b2 = 'B2'\n    b3 = 'B3'\n    return x\n"
    message = f"```python\n{parent_a}\n```\n```python\n{parent_b}\n```\n"
    mixed = [code for code in codes(MutateBackend().complete(request(message, n=30)))
             if "'A1'" in code and "'B3'" in code]
    assert mixed


def test_recombination_brings_the_donors_imports_and_helpers() -> None:
    parent_a = "def algorithm(x):\n    return 'from_a'\n\n\ndef scale(x):\n    return 2\n"
    parent_b = ("import math\n\n\ndef only_b(x):\n    return math.sqrt(x)\n\n\n"
                "def algorithm(x):\n    return only_b(x)\n\n\ndef scale(x):\n    return 'from_b'\n")
    message = f"```python\n{parent_a}\n```\n```python\n{parent_b}\n```\n"
    for code in codes(MutateBackend().complete(request(message, n=30))):
        if "only_b(x)" in code:
            assert "import math" in code
            assert "def only_b" in code


def test_no_code_block_gives_a_reply_without_code() -> None:
    replies = MutateBackend().complete(request("Please improve my algorithm (no code attached).", n=3))
    assert len(replies) == 3
    assert extract_code(replies) == [None, None, None]


def test_a_message_with_only_the_scorer_gives_a_reply_without_code() -> None:
    replies = MutateBackend().complete(request(f"```python\n{UTILITY}\n```", n=2))
    assert extract_code(replies) == [None, None]


def test_a_program_too_small_to_mutate_gives_a_reply_without_code() -> None:
    replies = MutateBackend().complete(request("```python\npass\n```", n=2))
    assert extract_code(replies) == [None, None]


def test_notice_says_no_language_model_is_used() -> None:
    backend = MutateBackend()
    assert backend.name == "mutate"
    assert "no language model" in backend.notice
    assert "offline" in backend.notice
