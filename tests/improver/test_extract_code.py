"""extract_code behaves as the paper's helper: the largest block, nested fences kept whole, None if none."""

from __future__ import annotations

from selftaught.improver import code_blocks, extract_code, seed_improver


def test_the_largest_block_is_returned() -> None:
    text = "a\n```python\nx = 1\n```\nb\n```\nlonger = 2\ny = 3\n```\n"
    assert extract_code(text) == "longer = 2\ny = 3"


def test_a_reply_without_code_gives_none_and_lists_map() -> None:
    assert extract_code("just words") is None
    assert extract_code(["```\na\n```", "none"]) == ["a", None]


def test_an_improver_whose_prompt_holds_fenced_blocks_is_extracted_whole() -> None:
    improver = seed_improver()
    reply = f"Here is my idea.\n```python\n{improver}\n```\nDone."
    assert extract_code(reply).strip() == improver.strip()  # type: ignore[union-attr]
    assert len(code_blocks(reply)) == 1


def test_a_reply_cut_off_inside_a_block_keeps_what_it_has() -> None:
    assert extract_code("```python\ndef f():\n    return 1") == "def f():\n    return 1"
