"""The mutate backend answers any prompt: deep programs, hostile fences, odd text; its work is linear and bounded."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selftaught.cli import main
from selftaught.improver import code_blocks, extract_code
from selftaught.lm import CompletionRequest, MutateBackend, _mutate_fences, _mutate_text
from selftaught.lm._mutate_blocks import candidates
from selftaught.lm._mutate_limits import MAX_MESSAGE_CHARS, MAX_TREE_NODES, PARSE_BUDGET
from selftaught.lm.session import LanguageModel
from selftaught.sandbox._guest.helpers import fence, nested_blocks

DEEP_PROGRAMS = {
    "binop chain": "def algorithm(x):\n    return " + " + ".join(["x * 2"] * 400) + "\n",
    "long sum": "x = " + "+".join(["1"] * 1000) + "\n",
    "unary minus": "def algorithm(x):\n    return " + "-" * 1000 + "2.5\n",
    "nested lists": "x = " + "[" * 180 + "1" + "]" * 180 + "\n",
    "nested calls": "def algorithm(x):\n    return " + "abs(" * 180 + "x - 3" + ")" * 180 + "\n",
    "attribute chain": "def algorithm(x):\n    return x" + ".real" * 1000 + " + 7\n",
    "elif chain": "def algorithm(x):\n    if x == 0:\n        return 0\n"
                  + "".join(f"    elif x == {i}:\n        return {i * 3}\n" for i in range(1, 400)),
}


def ask(message: str, n: int = 4, temperature: float = 0.7) -> list[str]:
    return MutateBackend().complete(CompletionRequest("expert", message, temperature, n, 0, 5))


def fenced(program: str) -> str:
    return f"Improve this program:\n```python\n{program}```\n"


@pytest.mark.parametrize("name", sorted(DEEP_PROGRAMS))
def test_a_deeply_nested_program_gets_replies_whose_code_parses_and_differs(name: str) -> None:
    program = DEEP_PROGRAMS[name]
    replies = ask(fenced(program), n=6)
    assert len(replies) == 6
    codes = [code for code in extract_code(replies) if code is not None]
    assert codes  # each of these programs has a number to change
    for code in codes:
        ast.parse(code)
        assert code.split() != program.split()


def test_a_deep_program_through_the_session_is_answered_not_raised() -> None:
    lm = LanguageModel(MutateBackend(), budget=2, max_responses_per_call=6)
    replies = lm.batch_prompt("expert", [fenced(DEEP_PROGRAMS["binop chain"])] * 3)
    assert len(replies) == 3 and all(isinstance(code, str) for code in extract_code(replies))


def test_a_program_too_big_for_tree_edits_gets_one_literal_changed_in_its_text() -> None:
    body = "".join(f"    total = total * {i} + (x - {i + 1})\n" for i in range(MAX_TREE_NODES // 8))
    program = "def algorithm(x):\n    total = 0\n" + body + "    return total\n"
    (parent,) = candidates(fenced(program))
    assert not parent.editable
    for reply in ask(fenced(program)):
        assert reply.startswith("Idea: change the constant ")
        code = str(extract_code(reply))
        changed = [(a, b) for a, b in zip(code.splitlines(), program.splitlines(), strict=True) if a != b]
        assert len(changed) == 1  # exactly one line differs: one literal


def test_a_program_without_any_number_and_too_deep_to_edit_gets_a_reply_without_code() -> None:
    program = "def algorithm(x):\n    return " + " + ".join(["x"] * 400) + "\n"
    replies = ask(fenced(program), n=3)
    assert extract_code(replies) == [None, None, None]


def test_only_the_first_mib_of_a_message_is_read() -> None:
    program = "def algorithm(x):\n    return x + 1\n"
    assert candidates(fenced(program)) and not candidates("y" * MAX_MESSAGE_CHARS + fenced(program))


HOSTILE_UNITS = {
    "unclosed tagged fences": "```python\n",
    "unclosed fences around broken code": "```\nx(\n",
    "tilde fences around broken code": "~~~\ndef f(:\n",
    "nested then bare": "```python\n```\n```\nx(\n",
    "spaces after a fence": "```" + " " * 2000 + "!\n",
    "blank lines": "\n\n\n\n\n\n\n\n",
}


class Work:
    """Counts what the backend does: characters handed to the parser, and fence checks."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parsed = 0
        self.fences = 0
        parse, fence = _mutate_fences.parse, _mutate_fences.fence

        def counting_parse(source: str) -> Any:
            self.parsed += len(source)
            return parse(source)

        def counting_fence(line: str) -> Any:
            self.fences += 1
            return fence(line)

        monkeypatch.setattr(_mutate_fences, "parse", counting_parse)
        monkeypatch.setattr(_mutate_fences, "fence", counting_fence)
        monkeypatch.setattr(_mutate_text, "parse", counting_parse)


@pytest.mark.parametrize("shape", sorted(HOSTILE_UNITS))
def test_the_work_on_a_hostile_prompt_grows_linearly_with_its_size(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = HOSTILE_UNITS[shape]
    work = Work(monkeypatch)
    measured: dict[int, tuple[int, int]] = {}
    for size in (8 << 10, 32 << 10):
        message = unit * (size // len(unit))
        work.parsed = work.fences = 0
        assert len(ask(message, n=2)) == 2
        measured[size] = (work.parsed, work.fences)
        assert work.parsed <= (PARSE_BUDGET + 1) * len(message)
        assert work.fences == len(message.splitlines())  # each line looked at once
    small, large = measured[8 << 10][0], measured[32 << 10][0]
    assert large <= 4.5 * max(small, 1)  # four times the prompt, about four times the parsing


def test_an_opening_is_not_parsed_up_to_every_later_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shape that took 209 s at 16 KB (each opening re-parsed up to each later close: cubic): now bounded."""
    work = Work(monkeypatch)
    message = "```\nx(\n" * 4000
    ask(message, n=1)
    assert work.parsed <= (PARSE_BUDGET + 1) * len(message)


@st.composite
def weird_prompts(draw: st.DrawFn) -> str:
    pieces = st.sampled_from([
        "```python\n", "```\n", "~~~\n", "````py\n", "```python", "\r\n", "\n", "\x00", "\ud800", "\udfff",
        "def algorithm(x):\n    return x + 1\n", "x = " + "(" * 300 + "1" + ")" * 300 + "\n",
        "y = " + "+".join(["2"] * 400) + "\n", "    ", "\t", "'''", '"""', "#", "\\", "é", "\u2028",
        "def utility(s):\n    return 1.5\n", "if x:\n", "x" * 5000, " " * 3000,
    ])
    parts = draw(st.lists(st.one_of(pieces, st.text(max_size=40)), max_size=30))
    return "".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=weird_prompts(), temperature=st.floats(0, 2), n=st.integers(1, 3))
def test_no_prompt_makes_the_backend_raise(message: str, temperature: float, n: int) -> None:
    replies = MutateBackend().complete(CompletionRequest("expert", message, temperature, n, 0, 1))
    assert len(replies) == n and all(isinstance(r, str) for r in replies)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=weird_prompts())
def test_no_prompt_makes_a_session_call_fail(message: str) -> None:
    lm = LanguageModel(MutateBackend(), budget=1, max_responses_per_call=2)
    assert len(lm.prompt("expert", message, n_responses=2)) == 2


_FENCE_LINES = st.text(alphabet=st.sampled_from(list("`~ \t\u00a0\u3000ab_+.-1é!\x0c")), max_size=14)


@settings(max_examples=400, deadline=None)
@given(line=_FENCE_LINES)
def test_fence_lines_are_read_exactly_as_the_fence_pattern_reads_them(line: str) -> None:
    m = FENCE_PATTERN.match(line)
    assert fence(line) == (None if m is None else (m.group(1), m.group(2)))


def test_a_long_line_of_spaces_after_a_fence_is_not_a_fence_and_the_block_after_it_is_read() -> None:
    # FENCE_PATTERN took 10.7 s on this one line (quadratic backtracking); the reader has no pattern to backtrack
    line = "```" + " " * 20_000 + "!"
    assert fence(line) is None
    assert code_blocks(f"{line}\n```python\nx = 1\n```") == ["x = 1"]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(_FENCE_LINES, st.sampled_from(["x = 1", "```python", "```", "~~~"])), max_size=12))
def test_blocks_are_cut_exactly_as_the_improvers_helper_cuts_them(lines: list[str]) -> None:
    text = "\n".join(lines)
    split = text.splitlines()
    assert nested_blocks(split, [fence(x) for x in split]) == code_blocks(text) == _pattern_blocks(text)


# The fence syntax of the paper-compatible helper, as a regular expression: the oracle the linear reader must match.
FENCE_PATTERN = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)\s*$")


def _pattern_blocks(text: str) -> list[str]:
    """`code_blocks` as it was written with FENCE_PATTERN (quadratic on long lines, exact on short ones)."""
    blocks: list[str] = []
    body: list[str] = []
    depth = 0
    for line in text.splitlines():
        m = FENCE_PATTERN.match(line)
        if depth == 0:
            if m:
                depth, body = 1, []
            continue
        if m and m.group(2):
            depth += 1
        elif m:
            depth -= 1
            if depth == 0:
                blocks.append("\n".join(body))
                continue
        body.append(line)
    if depth > 0 and body:
        blocks.append("\n".join(body))
    return blocks


@pytest.fixture
def deep_solution(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "deep.py"
    total = " + ".join(["1"] * 300)  # copy.deepcopy of this tree ran out of stack in the orchestrator
    path.write_text(f"def algorithm(train_samples, train_parity, test_samples):\n    bias = {total}\n"
                    "    return [int(bias) % 2 for _ in test_samples]\n")
    yield path


def test_improve_with_a_deeply_nested_solution_file_finishes(
    deep_solution: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["improve", "parity_noiseless", "--solution", str(deep_solution), "--lm-budget", "1",
                   "--max-responses", "2", "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    data = json.loads(captured.out)
    assert data["lm_calls"] == 1 and data["usage"]["refused_calls"] == 0
