"""How long the offline `mutate` backend takes to answer a prompt, by prompt size and shape (16 KB .. 1 MB).

Run with `python bench/mutate_prompt.py` (`--quick`: sizes up to 256 KB). It prints a markdown table: seconds
per request of 6 samples, the median of 3 runs (1 run at 1 MB). Shapes: hostile prompts (unclosed fences around
code that never parses, fences followed by long runs of spaces), an ordinary program, and a deeply nested one.
Work per request is linear in the prompt's size: each row should grow about 4x per column.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

from selftaught.lm import CompletionRequest, MutateBackend

SIZES = (16 << 10, 64 << 10, 256 << 10, 1 << 20)
SAMPLES = 6

_FUNCTION = """def f{i}(x, y):
    total = 0
    for k in range(len(x)):
        if x[k] > y * {i} + 1.5:
            total += x[k] * 2 - y
        else:
            total = max(total, k // 3)
    return total
"""


def repeated(unit: str) -> Callable[[int], str]:
    return lambda size: unit * (size // len(unit))


def program(size: int) -> str:
    parts: list[str] = []
    total = 0
    while total < size - 32:
        parts.append(_FUNCTION.format(i=len(parts)))
        total += len(parts[-1])
    return "Improve this program:\n```python\n" + "".join(parts) + "```\n"


def deep_program(size: int) -> str:
    line = "x = " + "-" * 500 + "2.5\n"  # each statement 500 levels deep
    return "Improve this program:\n```python\n" + line * max(1, (size - 40) // len(line)) + "```\n"


SHAPES: dict[str, Callable[[int], str]] = {
    "unclosed ``` fences around `x(`": repeated("```\nx(\n"),
    "unclosed ~~~ fences around `def f(:`": repeated("~~~\ndef f(:\n"),
    "```python + ``` + ``` + `x(` (nesting, then broken)": repeated("```python\n```\n```\nx(\n"),
    "unclosed ```python fences": repeated("```python\n"),
    "a fence then 4000 spaces, per line": repeated("```" + " " * 4000 + "!\n"),
    "one ordinary program (8-line functions)": program,
    "one program, each line 500 levels deep": deep_program,
}


def seconds(message: str, runs: int) -> float:
    backend = MutateBackend()
    times = []
    for run in range(runs):
        started = time.perf_counter()
        replies = backend.complete(CompletionRequest("You are an expert.", message, 0.7, SAMPLES, 0, run))
        times.append(time.perf_counter() - started)
        assert len(replies) == SAMPLES
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 256 KB only")
    args = parser.parse_args()
    sizes = [s for s in SIZES if not args.quick or s <= 256 << 10]
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}; {SAMPLES} samples a request; "
          "seconds, median of 3 (1 at 1 MB).\n")
    print("| prompt shape | " + " | ".join(f"{s >> 10} KB" for s in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for name, make in SHAPES.items():
        cells = [f"{seconds(make(size), 1 if size >= 1 << 20 else 3):.3f}" for size in sizes]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
